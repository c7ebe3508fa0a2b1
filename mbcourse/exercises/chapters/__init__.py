"""The exercises of each chapter, one module per chapter (``ch03.py``: chapter 3), in the
order the chapter shows them. See :mod:`mbcourse.exercises.registry`."""
