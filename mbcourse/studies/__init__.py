"""The chapters' studies, built on the package: :mod:`.manifold` (chapter 2),
:mod:`.experiments` (chapter 7) and :mod:`.performance` (chapter 8); and each chapter's facts,
tables and plots: :mod:`.ch06` (chapter 6)."""
