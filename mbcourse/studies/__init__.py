"""The chapters' studies, built on the package: :mod:`.manifold` (chapter 2),
:mod:`.experiments` (chapter 7) and :mod:`.performance` (chapter 8)."""
