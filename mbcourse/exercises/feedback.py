"""The result objects: :class:`Feedback` (questions) and :class:`CheckResult` (checkers)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CheckResult", "Feedback"]

CORRECT, INCORRECT, INVALID = "correct", "incorrect", "invalid"


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer.

    ``status`` is ``"correct"``, ``"incorrect"`` or ``"invalid"`` (the text could not be read,
    or nothing was chosen: not counted as an attempt). ``message`` is what the learner sees.
    """

    correct: bool
    message: str
    status: str = INCORRECT

    @property
    def counted(self) -> bool:
        """Whether this answer counts as an attempt (readable answers do, typos do not)."""
        return self.status != INVALID

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class CheckResult:
    """What a checker found. ``passed``: every case matched the reference. ``message``: the
    feedback (first failing case with input, expected, got and a hint; or the verified cases).
    ``cases``: descriptions of the cases that passed, in order. ``status`` as in
    :class:`Feedback` (``"invalid"`` when there was nothing to check, e.g. a missing name).
    """

    passed: bool
    message: str
    cases: tuple[str, ...] = field(default_factory=tuple)
    status: str = INCORRECT

    @property
    def correct(self) -> bool:
        """Alias of ``passed``, so questions and code exercises read alike."""
        return self.passed

    @property
    def counted(self) -> bool:
        return self.status != INVALID

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:  # short: the checker has already printed the message
        verdict = "passed" if self.passed else "failed"
        return f"CheckResult({verdict}, {len(self.cases)} case(s) verified)"
