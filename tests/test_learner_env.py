"""Every chapter runs where a learner runs it: Colab's packages (ipywidgets 7.7.1), no extras.

``tools/learner_env.py`` builds that environment, checks with ``pip install --dry-run --report``
that installing mbcourse changes none of Colab's own packages, executes every chapter through
the Colab branch of its install cell, and drives every exercise widget under ipywidgets 7.7.
It takes minutes, so it runs when ``MBCOURSE_LEARNER_ENV=1`` (``.ci/run`` sets it) and skips,
saying so, otherwise. Each chapter's time is printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("MBCOURSE_LEARNER_ENV") != "1",
    reason="the learner-environment run takes minutes: set MBCOURSE_LEARNER_ENV=1 "
    "(or run python tools/learner_env.py)",
)
def test_every_chapter_runs_in_the_learner_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "learner.md"
    with capsys.disabled():
        print()
        proc = subprocess.run(
            [sys.executable, str(ROOT / "tools/learner_env.py"), "--report", str(report)],
            cwd=ROOT,
            check=False,
        )
    assert proc.returncode == 0, report.read_text() if report.exists() else "no report written"
    assert "All chapters ran" in report.read_text()
