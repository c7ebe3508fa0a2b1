"""One module per chapter: its exercises' specs, their answers computed by ``mbcourse``."""
