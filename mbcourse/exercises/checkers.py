"""Checkers for the code exercises: plain functions, usable with or without widgets.

Each checker runs the learner's function or class on a set of small cases and compares it with
the reference in :mod:`mbcourse` (:mod:`mbcourse.costs` for formulas, :mod:`mbcourse.blocks` for
modules, whose weights are copied into the learner's module layer by layer,
:func:`mbcourse.deploy.to_lite` for ``make_lite``). It stops at the
first failing case and says, in plain words, the input, what was expected, what came back and,
when it recognises it, the mistake ("no sigmoid", "residual added at stride 2", ...); a pass
lists what was verified. The feedback is printed (``verbose=True``) and returned::

    result = checkers.check_se(MySE)      # prints the feedback
    result.passed, result.message, result.cases

Every checker has the signature ``check_x(obj, *, verbose=True, time_limit=5.0)``. Learner code
runs under a time limit (``time_limit`` seconds per call) with its printed output captured and
truncated (:mod:`mbcourse.exercises.sandbox`); exceptions, wrong types, wrong shapes, NaN and
timeouts become feedback, never a traceback. Cases run on the CPU, one thread, seeded, with the
global random state restored afterwards.
"""

from __future__ import annotations

from ._block_checkers import (
    check_inverted_residual,
    check_make_lite,
    check_mbconv_forward,
    check_se,
)
from ._case_runner import DEFAULT_TIME_LIMIT
from ._formula_checkers import (
    check_conv_params,
    check_depthwise_separable_macs,
    check_fused_params,
    check_residual_rule,
)
from .feedback import CheckResult

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "CheckResult",
    "check_conv_params",
    "check_depthwise_separable_macs",
    "check_fused_params",
    "check_inverted_residual",
    "check_make_lite",
    "check_mbconv_forward",
    "check_residual_rule",
    "check_se",
]
