"""The chapters' studies, built on the package: :mod:`.manifold` (chapter 2),
:mod:`.experiments` (chapter 7), :mod:`.performance` (chapter 8) and :mod:`.on_device`
(chapter 11's panel, which runs in the reader's browser); what every chapter's evidence uses:
:mod:`.stats` (paired tests, Holm, intervals), :mod:`.verdicts` (the sentences that word each
result, for every outcome) and :mod:`.stored` (measurements stored in ``book/data`` with their
provenance); and each chapter's facts, tables and plots: :mod:`.ch00` to :mod:`.ch10`
(chapter N's is ``chNN``); chapter 10's heavy run:
:mod:`.trained`."""
