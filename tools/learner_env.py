"""Run every chapter where a learner runs it: a Colab-like environment without the book's tools.

What it does, in order (``python tools/learner_env.py --help``):

1. A virtual environment (``.venv-learner`` by default) holding only what Colab already ships and
   the chapters rely on: torch, torchvision, NumPy, Matplotlib, ipykernel and **ipywidgets 7.7.1**
   (Colab's version). No myst-nb, no Sphinx, no test tools, and not ``mbcourse`` itself.
2. A wheel of this checkout. The chapters' install cell reads ``MBCOURSE_SOURCE`` (a pip source,
   here ``file://.../mbcourse-*.whl``) in place of the GitHub URL, so the cell installs *this*
   code, exactly as it installs the published code in Colab.
3. ``pip install --dry-run --report`` of that wheel (and of each extra a chapter installs): it must
   plan no change to torch, torchvision, NumPy, Matplotlib or ipywidgets.
4. Every chapter executed top to bottom with nbclient in a kernel of that environment, in which a
   stand-in ``google.colab`` module is imported at start-up (as in Colab), so the Colab branch of
   each install cell really runs. ``mbcourse`` is uninstalled before each chapter, as each Colab
   notebook starts from a fresh runtime.
5. Every exercise widget built under ipywidgets 7.7 and driven through its Check button
   (``tests/learner/drive_widgets.py``, run by the learner environment's Python).

It prints each chapter's time, exits non-zero on any failure, and with ``--report FILE`` writes a
Markdown summary (the weekly workflow posts it as an issue when something broke).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
KERNEL = "mbcourse-learner"
# What Colab ships and the chapters use; ipywidgets at Colab's version (colabtools#3020).
# protobuf too: Colab has it, and a `google.protobuf` installed only after `google.colab` was
# imported would not join the `google` namespace package of the running kernel.
COLAB_PREINSTALLED = (
    "torch", "torchvision", "numpy", "matplotlib", "ipykernel", "ipywidgets==7.7.1", "protobuf",
)
# The install cell must leave these exactly as Colab has them.
PROTECTED = ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets")
# The Colab branch of the install cell: `f"mbcourse @ {source}"` or `f"mbcourse[extra] @ {source}"`.
INSTALL_SPEC = re.compile(r'f"(mbcourse(?:\[[\w,-]+\])?) @ \{source\}"')
LAUNCHER = (
    "import sys, google.colab; from ipykernel.kernelapp import launch_new_instance; "
    "launch_new_instance()"
)


@dataclass
class Outcome:
    """What happened to one step (a chapter, the dry run, the widgets)."""

    name: str
    seconds: float
    error: str = ""
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; raise with that output when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{output}")
    return proc


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def make_venv(venv: Path, fresh: bool) -> Path:
    """The Colab-like environment (reused unless ``fresh``; Colab's packages added if missing)."""
    python = python_of(venv)
    marker = venv / "colab-packages.json"
    if fresh or not python.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(venv)])
    if not marker.is_file() or json.loads(marker.read_text()) != list(COLAB_PREINSTALLED):
        run([str(python), "-m", "pip", "install", "-q", *COLAB_PREINSTALLED])
        marker.write_text(json.dumps(list(COLAB_PREINSTALLED)))
    # The stand-in google.colab: a namespace package part, so google.protobuf & co. still import.
    standin = venv / "colab-standin" / "google" / "colab"
    standin.mkdir(parents=True, exist_ok=True)
    (standin / "__init__.py").write_text('"""Stand-in for Colab\'s google.colab (tests only)."""\n')
    return python


def build_wheel(out: Path) -> Path:
    """A wheel of this checkout, the source the install cells install from."""
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)])
    (wheel,) = out.glob("mbcourse-*.whl")
    return wheel


def install_specs(chapters: list[Path]) -> dict[str, str]:
    """``{chapter: 'mbcourse' or 'mbcourse[extra]'}`` from each chapter's install cell."""
    specs = {}
    for path in chapters:
        nb = json.loads(path.read_text())
        first = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
        match = INSTALL_SPEC.search(first)
        if not match:
            raise SystemExit(f"{path.name}: its first code cell has no Colab install line")
        specs[path.name] = match.group(1)
    return specs


def installed(python: Path) -> dict[str, str]:
    out = run([str(python), "-m", "pip", "list", "--format", "json"]).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def dry_run(python: Path, spec: str, wheel: Path) -> Outcome:
    """``pip install --dry-run --report``: what installing ``spec`` would add or change."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        run([str(python), "-m", "pip", "install", "-q", "--dry-run", "--report", str(report),
             f"{spec} @ {wheel.as_uri()}"])
        planned = json.loads(report.read_text())["install"]
    names = sorted(f"{p['metadata']['name']}=={p['metadata']['version']}" for p in planned)
    touched = [n for n in names if n.split("==")[0].lower() in PROTECTED]
    error = f"would change {', '.join(touched)}" if touched else ""
    return Outcome(f"pip install --dry-run {spec}", time.perf_counter() - t0, error,
                   [f"plans to install: {', '.join(names)}"])


def write_kernel(venv: Path, python: Path, wheel: Path) -> Path:
    """A kernelspec that starts the learner's Python with google.colab imported."""
    folder = venv / "share" / "jupyter" / "kernels" / KERNEL
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(python), "-c", LAUNCHER, "-f", "{connection_file}"],
        "display_name": "Python 3 (mbcourse learner)",
        "language": "python",
        "env": {
            "PYTHONPATH": str(venv / "colab-standin"),
            "MBCOURSE_SOURCE": wheel.as_uri(),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "VIRTUAL_ENV": str(venv),
        },
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
    return venv / "share" / "jupyter"


def cell_error(error: BaseException) -> str:
    """The last lines of a failing cell's traceback, without terminal colours."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-6:])


def run_chapter(path: Path, python: Path, timeout: int) -> Outcome:
    """Execute one chapter top to bottom in the learner kernel, from a fresh ``mbcourse``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    run([str(python), "-m", "pip", "uninstall", "-q", "-y", "mbcourse"])
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=timeout,
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as exc:
        error = cell_error(exc)
    except Exception as exc:  # a dead kernel, a timeout: report it, go on with the next chapter
        error = f"{type(exc).__name__}: {exc}"
    return Outcome(path.name, time.perf_counter() - t0, error)


def drive_widgets(python: Path, wheel: Path) -> Outcome:
    """Build every exercise widget under the learner's ipywidgets and press Check on each."""
    t0 = time.perf_counter()
    run([str(python), "-m", "pip", "install", "-q", f"mbcourse @ {wheel.as_uri()}"])
    script = ROOT / "tests" / "learner" / "drive_widgets.py"
    env = {**os.environ, "VIRTUAL_ENV": str(python.parents[1])}
    proc = subprocess.run([str(python), str(script)], capture_output=True, text=True, cwd=ROOT,
                          env=env)
    lines = proc.stdout.strip().splitlines()
    error = "" if proc.returncode == 0 else (proc.stderr.strip()[-2000:] or "failed")
    return Outcome("exercise widgets (ipywidgets 7.7)", time.perf_counter() - t0, error, lines[-3:])


def markdown_report(outcomes: list[Outcome], versions: dict[str, str]) -> str:
    """The summary as Markdown: a table of steps, then each failure's error."""
    failed = [o for o in outcomes if not o.ok]
    head = "All chapters ran" if not failed else f"{len(failed)} step(s) failed"
    pinned = ", ".join(f"{n} {versions[n]}" for n in (*PROTECTED, "ipykernel") if n in versions)
    lines = [f"## Learner environment: {head}", "", f"Environment: Python "
             f"{sys.version.split()[0]}, {pinned}; no book or test extras.", "",
             "| step | seconds | result |", "|---|---:|---|"]
    lines += [f"| {o.name} | {o.seconds:.0f} | {'ok' if o.ok else 'FAILED'} |" for o in outcomes]
    for o in outcomes:
        if o.details or not o.ok:
            lines += ["", f"### {o.name}", ""] + [f"- {d}" for d in o.details]
            if not o.ok:
                lines += ["", "```", o.error, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter files (default: every book/*.ipynb)")
    default_venv = Path(os.environ.get("MBCOURSE_LEARNER_VENV", ROOT / ".venv-learner"))
    parser.add_argument("--venv", type=Path, default=default_venv)
    parser.add_argument("--fresh", action="store_true", help="rebuild the environment")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--report", type=Path, help="write a Markdown summary here")
    args = parser.parse_args(argv)
    chapters = [Path(c).resolve() for c in args.chapters] or sorted(BOOK.glob("*.ipynb"))

    t0 = time.perf_counter()
    python = make_venv(args.venv.resolve(), args.fresh)
    print(f"learner environment ready ({time.perf_counter() - t0:.0f} s): {args.venv}", flush=True)
    versions = installed(python)
    print("  " + ", ".join(f"{n} {versions.get(n, 'missing')}" for n in PROTECTED), flush=True)
    if versions.get("ipywidgets", "").split(".")[:2] != ["7", "7"]:
        raise SystemExit(f"expected Colab's ipywidgets 7.7, found {versions.get('ipywidgets')}")
    for absent in ("myst-nb", "sphinx", "jupyter-book", "mbcourse"):
        if absent in versions:
            run([str(python), "-m", "pip", "uninstall", "-q", "-y", absent])

    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp))
        for spec in sorted(set(install_specs(chapters).values())):
            outcomes.append(dry_run(python, spec, wheel))
            print(f"{outcomes[-1].name}: {'ok' if outcomes[-1].ok else outcomes[-1].error}",
                  flush=True)
        os.environ["JUPYTER_PATH"] = str(write_kernel(args.venv.resolve(), python, wheel))
        for path in chapters:
            outcome = run_chapter(path, python, args.timeout)
            outcomes.append(outcome)
            print(f"{outcome.name:<34} {outcome.seconds:6.1f} s  "
                  f"{'ok' if outcome.ok else 'FAILED'}", flush=True)
            if not outcome.ok:
                print("    " + outcome.error.replace("\n", "\n    "), flush=True)
        outcomes.append(drive_widgets(python, wheel))
        print(f"{outcomes[-1].name}: {'ok' if outcomes[-1].ok else outcomes[-1].error}",
              flush=True)

    report = markdown_report(outcomes, installed(python))
    if args.report:
        args.report.write_text(report)
    failed = [o.name for o in outcomes if not o.ok]
    print(f"total {time.perf_counter() - t0:.0f} s; "
          + (f"FAILED: {', '.join(failed)}" if failed else "every chapter ran"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
