"""The chapters' studies, built on the package: :mod:`.manifold` (chapter 2),
:mod:`.experiments` (chapter 7) and :mod:`.performance` (chapter 8); and what every chapter's
evidence uses: :mod:`.stats` (paired tests, Holm, intervals), :mod:`.verdicts` (the sentences
that word each result, for every outcome) and :mod:`.stored` (measurements stored in
``book/data`` with their provenance)."""
