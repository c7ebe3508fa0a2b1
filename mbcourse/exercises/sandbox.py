"""Run learner code with a time limit and with its printed output captured and truncated.

How the time limit works (and its limits):

* On the main thread of a process that has ``signal.setitimer`` (Linux, macOS: the usual
  Jupyter kernel, where cells and widget callbacks run on the main thread), a ``SIGALRM``
  interval timer raises :class:`TimeLimitExceeded` inside the learner's code. It keeps firing
  every 0.25 s until the code stops, so a bare ``except:`` in the learner's loop cannot swallow
  it. A signal is only handled between Python bytecodes: one long C call (a huge matrix
  multiply) finishes before the limit takes effect.
* Elsewhere (Windows, a non-main thread, or when a timer is already armed) the code runs in a
  daemon thread and we wait ``timeout`` seconds. A Python thread cannot be killed; we ask it to
  stop by raising :class:`TimeLimitExceeded` in it (``PyThreadState_SetAsyncExc``), which works
  for Python loops. If it is stuck in C code it keeps running in the background and the
  :class:`Outcome` says so (``still_running``); the kernel stays responsive.

``sys.stdout`` and ``sys.stderr`` are redirected to a :class:`CappedStream` that keeps the first
``max_output`` characters and counts the rest, so a learner function that prints a lot neither
floods the notebook nor exhausts memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CappedStream", "Outcome", "TimeLimitExceeded", "run_limited"]

_REPEAT_S = 0.25


class TimeLimitExceeded(BaseException):  # a BaseException: `except Exception` cannot hide it
    """Raised inside learner code when it runs past its time limit."""


class CappedStream(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters written and counts the others."""

    def __init__(self, limit: int = 2000) -> None:
        super().__init__()
        self.limit = limit
        self._parts: list[str] = []
        self.kept = 0
        self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            s = str(s)
        self.total += len(s)
        room = self.limit - self.kept
        if room > 0:
            piece = s[:room]
            self._parts.append(piece)
            self.kept += len(piece)
        return len(s)

    def getvalue(self) -> str:
        return "".join(self._parts)

    @property
    def truncated(self) -> bool:
        return self.total > self.kept


@dataclass
class Outcome:
    """What happened when learner code ran: a value, an exception, or a timeout."""

    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    still_running: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.timed_out


def _can_use_alarm() -> bool:
    if not hasattr(signal, "setitimer") or not hasattr(signal, "SIGALRM"):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    return signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def _run_with_alarm(fn: Callable[[], Any], timeout: float) -> Outcome:
    state = {"armed": True}

    def handler(signum: int, frame: object) -> None:
        if state["armed"]:
            raise TimeLimitExceeded

    previous = signal.signal(signal.SIGALRM, handler)
    outcome = Outcome()
    start = time.perf_counter()

    def disarm() -> None:
        while True:  # an alarm may land in the middle of disarming: retry until done
            try:
                state["armed"] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                return
            except TimeLimitExceeded:
                continue

    try:
        signal.setitimer(signal.ITIMER_REAL, max(timeout, 1e-3), _REPEAT_S)
        outcome.value = fn()
    except TimeLimitExceeded:
        outcome.timed_out = True
    except BaseException as error:  # learner code may raise anything, even SystemExit
        if isinstance(error, KeyboardInterrupt):
            disarm()
            raise
        outcome.error = error
    finally:
        disarm()
    outcome.seconds = time.perf_counter() - start
    return outcome


def _run_in_thread(fn: Callable[[], Any], timeout: float) -> Outcome:
    outcome = Outcome()
    done = threading.Event()

    def target() -> None:
        try:
            outcome.value = fn()
        except TimeLimitExceeded:
            outcome.timed_out = True
        except BaseException as error:
            outcome.error = error
        finally:
            done.set()

    start = time.perf_counter()
    thread = threading.Thread(target=target, name="mbcourse-exercise", daemon=True)
    thread.start()
    if not done.wait(timeout):
        outcome.timed_out = True
        ident = thread.ident
        if ident is not None:  # ask the thread to stop (works for Python loops, not C calls)
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(ident), ctypes.py_object(TimeLimitExceeded)
            )
        if not done.wait(1.0):
            outcome.still_running = True
        outcome.value = None
        outcome.error = None
    outcome.seconds = time.perf_counter() - start
    return outcome


def run_limited(
    fn: Callable[[], Any],
    *,
    timeout: float = 5.0,
    output: CappedStream | None = None,
    force_thread: bool = False,
) -> Outcome:
    """Call ``fn()`` with a time limit, its prints captured in ``output``; never raises
    (except ``KeyboardInterrupt``, so the kernel's interrupt button still works)."""
    stream = output if output is not None else CappedStream()
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        if not force_thread and _can_use_alarm():
            return _run_with_alarm(fn, timeout)
        return _run_in_thread(fn, timeout)
