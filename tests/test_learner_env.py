"""Every chapter runs where a learner runs it: today's Colab, as Google publishes it.

``tools/learner_env.py`` builds an environment from Colab's published freeze (``tools/colab/``,
googlecolab/backend-info) on Colab's Python, checks that every chapter's install cell plans no
change to any package of that freeze (CPU and GPU runtimes), runs the Colab edition of every
chapter through nbval against the book build's outputs, and drives every exercise widget under
Colab's ipywidgets. It takes minutes and needs the built book, so it runs when
``MBCOURSE_LEARNER_ENV=1`` (``.ci/run``'s learner stage) and skips, saying so, otherwise. The
helpers it is made of are tested here on small inputs, always.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("learner_env", ROOT / "tools/learner_env.py")
learner_env = importlib.util.module_from_spec(spec)
sys.modules["learner_env"] = learner_env
spec.loader.exec_module(learner_env)


def test_vendored_freeze_is_colabs_with_its_commit() -> None:
    freeze = learner_env.Freeze.read(learner_env.FREEZE)
    assert freeze.source.startswith("googlecolab/backend-info@")
    commit = freeze.source.split("@", 1)[1].split()[0]
    assert len(commit) == 40 and int(commit, 16) >= 0
    assert freeze.python.startswith("3.")
    # the published versions the issue quotes (2026-08-19, "Upgrade to Python 3.13")
    assert freeze.cpu["torch"] == "2.11.0+cpu" and freeze.cpu["torchvision"] == "0.26.0+cpu"
    assert freeze.cpu["ipywidgets"] == "7.7.1" and freeze.cpu["protobuf"] == "5.29.6"
    assert "onnx" not in freeze.cpu and "onnxruntime" not in freeze.cpu
    assert freeze.gpu and freeze.gpu["torch"].startswith("2.11.0+cu")


def test_freeze_lines_give_name_and_version_also_for_urls() -> None:
    found = learner_env.parse_freeze(
        "numpy==2.1.3\n"
        "torch @ https://download.pytorch.org/whl/cpu/torch-2.11.0%2Bcpu-cp313-cp313-linux.whl\n"
        "google-colab @ file:///colabtools/dist/google_colab-1.0.0.tar.gz\n"
        "jupyter_kernel_gateway @ git+https://github.com/googlecolab/kernel_gateway@b134e99\n"
        "Jinja2==3.1.6\n# a comment\n"
    )
    assert found == {"numpy": "2.1.3", "torch": "2.11.0+cpu", "google-colab": "1.0.0",
                     "jinja2": "3.1.6"}
    freeze = learner_env.Freeze(Path("."), {**found, "nvidia-nccl-cu13": "2.31.2"}, {}, "3.13",
                                "")
    pins = freeze.constraints().splitlines()
    assert "torch==2.11.0" in pins and "numpy==2.1.3" in pins  # no local label: PyPI's torch too
    assert not any(p.startswith("nvidia-") for p in pins)  # CUDA libraries follow torch


def test_a_planned_change_to_any_preinstalled_package_is_named() -> None:
    freeze = learner_env.Freeze(Path("."), {"protobuf": "5.29.6", "torch": "2.11.0+cpu"},
                                {"protobuf": "5.29.6", "torch": "2.11.0+cu128"}, "3.13", "")
    assert freeze.changes({"onnx": "1.19.1", "torch": "2.11.0"}) == []
    changed = freeze.changes({"onnx": "1.23.0", "protobuf": "7.36.0"})
    assert changed == ["protobuf 5.29.6 -> 7.36.0 (Colab's CPU runtime)",
                       "protobuf 5.29.6 -> 7.36.0 (Colab's GPU runtime)"]


def test_freeze_comparison_lists_changed_packages_watched_first() -> None:
    old = learner_env.Freeze(Path("old"), {"torch": "2.11.0", "zlib": "1", "a": "1"}, {}, "3.13",
                             "old@1")
    new = learner_env.Freeze(Path("new"), {"torch": "2.12.0", "zlib": "2", "a": "1"}, {}, "3.13",
                             "new@2")
    lines = learner_env.compare_freezes(old, new, {"zlib"})
    rows = [line for line in lines if line.startswith("| ") and "package" not in line]
    assert rows == ["| zlib (learner environment) | 1 | 2 |", "| torch | 2.11.0 | 2.12.0 |"]
    assert lines[-1] != "No package changed."
    assert learner_env.compare_freezes(old, old, set())[-1] == "No package changed."


def test_the_dry_run_executes_each_chapters_own_install_block() -> None:
    """The block handed to pip (with PIP_DRY_RUN) is the cell's own code up to its Colab `if`."""
    specs = learner_env.install_specs(sorted((ROOT / "book").glob("*.ipynb")))
    assert set(specs.values()) >= {"mbcourse", "mbcourse[deploy]"}
    for chapter in sorted((ROOT / "book").glob("*.ipynb")):
        cell = learner_env.first_code(chapter)
        block = learner_env.colab_block(cell)
        assert block.rstrip().endswith("check=True)") and "import torch" not in block
        assert "--format=freeze" in block and "'-c'" in block, "Colab's packages as constraints"


def test_book_outputs_undo_myst_nbs_in_place_stream_merge() -> None:
    """myst-nb merges a cell's streams into the first one in place and keeps the others."""
    merged = [{"output_type": "stream", "name": "stdout", "text": ["a\n", "b\n"]},
              {"output_type": "stream", "name": "stdout", "text": ["b\n"]},
              {"output_type": "display_data", "data": {"text/plain": "x"}}]
    assert learner_env.book_outputs(merged) == [merged[0], merged[2]]
    separate = [{"output_type": "stream", "name": "stdout", "text": "a\n"},
                {"output_type": "stream", "name": "stdout", "text": "b\n"},
                {"output_type": "stream", "name": "stderr", "text": "w\n"}]
    assert learner_env.book_outputs(separate) == separate


def _wheel(folder: Path, requires: list[str], summary: str = "") -> Path:
    import zipfile

    wheel = folder / f"mbcourse-0.1.0-py3-none-any-{len(list(folder.iterdir()))}.whl"
    metadata = "\n".join(["Metadata-Version: 2.1", "Name: mbcourse", f"Summary: {summary}",
                          *(f"Requires-Dist: {r}" for r in requires)])
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("mbcourse-0.1.0.dist-info/METADATA", metadata)
    return wheel


def test_the_reuse_key_follows_the_wheels_requirements_only(tmp_path: Path) -> None:
    digest = learner_env.requirements_digest
    one = digest(_wheel(tmp_path, ["torch>=2.3", "onnx; extra == 'deploy'"]))
    assert one == digest(_wheel(tmp_path, ["onnx; extra == 'deploy'", "torch>=2.3"], "other"))
    assert one != digest(_wheel(tmp_path, ["torch>=2.3", "onnx>=1.17; extra == 'deploy'"]))
    assert one != digest(_wheel(tmp_path, ["torch>=2.3"]))


def test_reference_outputs_go_into_the_checked_cells_only() -> None:
    edition = {"cells": [
        {"cell_type": "code", "id": "a", "metadata": {"tags": ["nbval-check-output"]},
         "outputs": [], "execution_count": None, "source": "print(1)"},
        {"cell_type": "code", "id": "b", "metadata": {}, "outputs": [], "execution_count": None,
         "source": "print(2)"},
    ]}
    executed = {"cells": [
        {"cell_type": "code", "id": "b", "outputs": [{"text": "2"}], "execution_count": 2},
        {"cell_type": "code", "id": "a", "outputs": [{"text": "1"}], "execution_count": 1},
    ]}
    merged, checked = learner_env.with_reference_outputs(edition, executed)
    assert checked == 1
    assert merged["cells"][0]["outputs"] == [{"text": "1"}]
    assert merged["cells"][0]["execution_count"] == 1
    assert merged["cells"][1]["outputs"] == [] and merged["cells"][1]["execution_count"] is None


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("MBCOURSE_LEARNER_ENV") != "1",
    reason="the learner-environment run takes minutes and needs the built book: set "
    "MBCOURSE_LEARNER_ENV=1 after the README's book command (or run python tools/learner_env.py)",
)
def test_every_chapter_runs_in_todays_colab(capsys: pytest.CaptureFixture[str]) -> None:
    edition = ROOT / "_build" / "colab"
    if not edition.is_dir():
        pytest.fail(f"no Colab edition at {edition}: build the book first", pytrace=False)
    report = ROOT / "artifacts" / "learner-report.md"
    report.parent.mkdir(exist_ok=True)
    report.unlink(missing_ok=True)
    with capsys.disabled():
        print()
        proc = subprocess.run(
            [sys.executable, str(ROOT / "tools/learner_env.py"), "--report", str(report)],
            cwd=ROOT,
            check=False,
        )
    text = report.read_text() if report.exists() else "no report written"
    assert proc.returncode == 0, text
    assert "All chapters ran" in text
    chapters = sorted((ROOT / "book").glob("*.ipynb"))
    for chapter in chapters:
        assert f"| {chapter.stem} |" in text, f"{chapter.name} did not run"
    checked = sum(int(n) for n in re.findall(r"- (\d+) cell\(s\) checked", text))
    tagged = sum(json.dumps(json.loads(c.read_text())["cells"]).count('"nbval-check-output"')
                 for c in chapters)
    assert checked == tagged > 0, "every nbval-check-output cell compared with the book's output"
