"""The chapters' studies, built on the package: :mod:`.manifold` (chapter 2),
:mod:`.experiments` (chapter 7), :mod:`.performance` (chapter 8) and :mod:`.on_device`
(chapter 11's panel, which runs in the reader's browser)."""
