"""Run every chapter where a learner runs it: today's Colab, as Google publishes it.

What it does, in order (``python tools/learner_env.py --help``):

1. **Colab's published environment**: ``pip-freeze.txt`` of googlecolab/backend-info, vendored
   in ``tools/colab/`` with the commit it came from (``--freeze DIR`` for another copy, e.g. the
   newest one the weekly workflow fetches), on the Python of its ``os-info.txt`` (3.13: from
   PATH or pyenv; where there is none, this Python, and the report says so).
2. **The learner environment** (``.venv-learner``, or ``MBCOURSE_LEARNER_VENV``): every package
   of the freeze that the chapters can touch, at the freeze's version. pip resolves the kernel
   (ipykernel, IPython, ipywidgets, ...), torchvision, protobuf and ``mbcourse`` with every extra
   a chapter installs, with the whole freeze as constraints; what the freeze holds of that
   closure is installed, what it does not hold (torchinfo, onnx, ...) is left to the chapters'
   install cells. Versions are compared without local labels: Colab's CPU torch is
   ``2.11.0+cpu`` from download.pytorch.org, PyPI's ``2.11.0`` is the CUDA build of the same
   release (its ``nvidia-*``/``cuda-*`` libraries come at torch's own pins).
3. A wheel of this checkout: the chapters' install cell installs it (``MBCOURSE_SOURCE``).
4. **The install cells' plan**: the Colab block of each distinct install cell (the cell's own
   code) runs with ``PIP_DRY_RUN=1`` and ``PIP_REPORT``; every package pip plans is checked
   against the whole freeze (CPU and GPU runtimes): it must plan no package the freeze holds at
   another version.
5. **The Colab edition through nbval**: each chapter of the edition the book build wrote
   (``_build/colab``), with the build's own outputs (``_build/jupyter_execute``) in its
   ``nbval-check-output`` cells, runs under ``pytest --nbval-lax`` in a kernel of the learner
   environment that imports a stand-in ``google.colab`` at start-up, so the Colab branch of the
   install cell really runs, and the checked cells must print what the book printed. Before
   each chapter the environment is reset to the freeze's packages (a fresh runtime); after it,
   every preinstalled package must still be at the freeze's version.
6. Every exercise widget built under Colab's ipywidgets and driven through its Check button
   (``tests/learner/drive_widgets.py``, run by the learner environment's Python).

It prints each step's time, exits non-zero on any failure, and with ``--report FILE`` writes a
Markdown summary (the weekly workflow posts it in an issue). ``--compare OLD NEW`` prints what
changed between two copies of the freeze, the packages of the learner environment first.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
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
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
FREEZE = ROOT / "tools" / "colab"  # pip-freeze.txt, pip-freeze.gpu.txt, os-info.txt, SOURCE
BUILD = ROOT / "_build"
KERNEL = "mbcourse-learner"
# What the chapters run on besides mbcourse's own requirements: the kernel and the widgets
# (colabtools#3020: ipywidgets at Colab's version), torchvision (compared with in the
# chapters), protobuf (a google.protobuf installed after google.colab's import would not join
# the running kernel's `google` namespace package).
KERNEL_STACK = (
    "ipykernel", "ipython", "ipywidgets", "jupyter_client", "traitlets", "widgetsnbextension",
    "torchvision", "protobuf",
)
# PyPI's torch is the CUDA build; its CUDA libraries follow torch, not the CPU runtime's list.
NOT_PINNED = re.compile(r"^(nvidia-|cuda-)")
# The Colab branch of the install cell: `f"mbcourse @ {source}"` or `f"mbcourse[extra] @ {source}"`.
INSTALL_SPEC = re.compile(r'f"(mbcourse(?:\[[\w,-]+\])?) @ \{source\}"')
LAUNCHER = (
    "import sys, google.colab; from ipykernel.kernelapp import launch_new_instance; "
    "launch_new_instance()"
)


# -- Colab's freeze ------------------------------------------------------------------------------

def canonical(name: str) -> str:
    """PEP 503's normal form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def public(version: str) -> str:
    """A version without its local label (``2.11.0+cpu`` -> ``2.11.0``)."""
    return version.split("+", 1)[0]


def parse_freeze(text: str) -> dict[str, str]:
    """``{canonical name: version}`` of a ``pip freeze``; URL lines give the file's version.

    ``torch @ https://.../torch-2.11.0%2Bcpu-cp313-...whl`` is ``2.11.0+cpu``; a line whose
    version cannot be read (``git+...``) is left out.
    """
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        pinned = re.match(r"^([A-Za-z0-9][\w.-]*)==([^\s;]+)", line)
        if pinned:
            found[canonical(pinned[1])] = pinned[2]
            continue
        direct = re.match(r"^([A-Za-z0-9][\w.-]*)\s*@\s*(\S+)", line)
        if direct:
            filename = unquote(direct[2].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1])
            stem = re.sub(r"(\.tar\.gz|\.zip|\.tar\.bz2)$", "", filename)
            if filename.endswith(".whl") or stem != filename:
                parts = stem.split("-")
                if len(parts) >= 2 and re.match(r"^\d", parts[1]):
                    found[canonical(direct[1])] = parts[1]
    return found


@dataclass
class Freeze:
    """One copy of Colab's published environment (a folder like ``tools/colab``)."""

    folder: Path
    cpu: dict[str, str]
    gpu: dict[str, str]
    python: str  # "3.13.15"
    source: str  # "googlecolab/backend-info@<commit> (<date> <subject>)"

    @classmethod
    def read(cls, folder: Path) -> Freeze:
        cpu_file = folder / "pip-freeze.txt"
        if not cpu_file.is_file():
            raise SystemExit(f"learner_env: no {cpu_file} (Colab's pip-freeze.txt)")
        gpu_file = folder / "pip-freeze.gpu.txt"
        os_info = folder / "os-info.txt"
        python = ""
        if os_info.is_file():
            found = re.search(r"^Python (\d+\.\d+(?:\.\d+)?)", os_info.read_text(), re.MULTILINE)
            python = found[1] if found else ""
        source = folder / "SOURCE"
        return cls(
            folder,
            parse_freeze(cpu_file.read_text(encoding="utf-8")),
            parse_freeze(gpu_file.read_text(encoding="utf-8")) if gpu_file.is_file() else {},
            python,
            source.read_text(encoding="utf-8").strip().splitlines()[0] if source.is_file() else "",
        )

    def constraints(self) -> str:
        """The freeze as pip constraints: public versions, CUDA libraries left to torch."""
        return "".join(
            f"{name}=={public(version)}\n"
            for name, version in sorted(self.cpu.items())
            if not NOT_PINNED.match(name)
        )

    def digest(self) -> str:
        return hashlib.sha256(self.constraints().encode()).hexdigest()[:16]

    def changes(self, planned: dict[str, str]) -> list[str]:
        """What installing ``planned`` ({name: version}) would change in either runtime."""
        changed = []
        for runtime, packages in (("CPU", self.cpu), ("GPU", self.gpu)):
            for name, version in sorted(planned.items()):
                have = packages.get(canonical(name))
                if have is not None and public(have) != public(version):
                    changed.append(f"{name} {have} -> {version} (Colab's {runtime} runtime)")
        return changed


def compare_freezes(old: Freeze, new: Freeze, watched: set[str]) -> list[str]:
    """Markdown lines: the packages that differ between two freezes (watched ones first)."""
    rows = []
    for name in sorted(set(old.cpu) | set(new.cpu), key=lambda n: (n not in watched, n)):
        a, b = old.cpu.get(name, "—"), new.cpu.get(name, "—")
        if a != b:
            mark = " (learner environment)" if name in watched else ""
            rows.append(f"| {name}{mark} | {a} | {b} |")
    head = [f"Colab's freeze: vendored {old.source or old.folder} (Python {old.python}), "
            f"newest {new.source or new.folder} (Python {new.python}).", ""]
    if not rows and old.python == new.python:
        return [*head, "No package changed."]
    return [*head, f"{len(rows)} package(s) changed:", "", "| package | vendored | newest |",
            "|---|---|---|", *rows]


# -- the environment ---------------------------------------------------------------------------

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


def find_python(version: str) -> tuple[str, str]:
    """An interpreter of Colab's minor version, and a note when only this one was found."""
    minor = ".".join(version.split(".")[:2]) or f"{sys.version_info[0]}.{sys.version_info[1]}"
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == minor:
        return sys.executable, ""
    candidates = [shutil.which(f"python{minor}")]
    for root in (Path.home() / ".pyenv" / "versions", Path("/root/.pyenv/versions")):
        candidates += [str(p) for p in sorted(root.glob(f"{minor}*/bin/python{minor}"))]
    for found in candidates:  # a pyenv shim may be on PATH without that version selected
        if found and Path(found).is_file() and subprocess.run(
            [found, "-c", "import sys, venv"], capture_output=True, check=False
        ).returncode == 0:
            return found, ""
    return sys.executable, (
        f"no Python {minor} (Colab's) found on PATH or in pyenv: ran on Python "
        f"{sys.version.split()[0]} instead, where some of the freeze's versions may not exist"
    )


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed(python: Path) -> dict[str, str]:
    """``{canonical name: version}`` of what the environment holds."""
    out = run([str(python), "-m", "pip", "list", "--format", "json"]).stdout
    return {canonical(p["name"]): p["version"] for p in json.loads(out)}


def _planned(python: Path, constraints: Path, requirements: list[str]) -> dict[str, str]:
    """``{name: version}`` of everything pip would install for ``requirements`` from scratch."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        run([str(python), "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed",
             "--report", str(report), "-c", str(constraints), *requirements])
        planned = json.loads(report.read_text())["install"]
    return {canonical(p["metadata"]["name"]): p["metadata"]["version"] for p in planned}


def closure(python: Path, freeze: Freeze, constraints: Path, wheel: Path,
            extras: list[str]) -> tuple[dict[str, str], set[str]]:
    """The freeze's packages that the kernel and mbcourse (with ``extras``) need, and the
    names of what only mbcourse brings beside them (mbcourse, torchinfo, onnx, ...)."""
    spec = f"mbcourse[{','.join(extras)}] @ {wheel.as_uri()}" if extras else \
        f"mbcourse @ {wheel.as_uri()}"
    planned = _planned(python, constraints, [*KERNEL_STACK, spec])
    kernel = _planned(python, constraints, list(KERNEL_STACK))
    wanted = {n: v for n, v in planned.items() if n in freeze.cpu and not NOT_PINNED.match(n)}
    added = {n for n in planned if n not in kernel and n not in freeze.cpu}
    return wanted, added


def make_env(venv: Path, freeze: Freeze, wheel: Path, extras: list[str], fresh: bool,
             python_exe: str) -> tuple[Path, dict[str, str], dict[str, str]]:
    """The learner environment: the freeze's packages the chapters touch, at its versions.

    Returns the Python, those packages (``{name: version}``) and everything the environment
    then holds (with what they pull in that Colab's list leaves to them: torch's CUDA libraries
    from PyPI), the state each chapter starts from.
    """
    python = python_of(venv)
    if fresh or not python.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        run([python_exe, "-m", "venv", str(venv)])
    constraints = venv / "colab-constraints.txt"
    constraints.write_text(freeze.constraints())
    pip_version = freeze.cpu.get("pip")
    if pip_version and installed(python).get("pip") != pip_version:
        run([str(python), "-m", "pip", "install", "-q", f"pip=={pip_version}"])
    record = venv / "colab-base.json"
    key = {"freeze": freeze.digest(), "requirements": requirements_digest(wheel),
           "extras": extras}
    saved = json.loads(record.read_text()) if record.is_file() and not fresh else {}
    have = installed(python)
    if saved.get("key") == key and all(have.get(n) == v for n, v in saved["base"].items()):
        # prepared earlier (``--prepare``) for this freeze and these requirements: pip would
        # resolve the same closure again
        base, added = saved["base"], set(saved["added"])
    else:
        base, added = closure(python, freeze, constraints, wheel, extras)
        # pip leaves what is already there as it is; this adds what a reset or a change removed
        run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints),
             *[f"{n}=={v}" for n, v in sorted(base.items())]])
    left = sorted(added & set(installed(python)))  # by an earlier run's install cells
    if left:
        run([str(python), "-m", "pip", "uninstall", "-q", "-y", *left])
    start = installed(python)
    record.write_text(json.dumps({"freeze": freeze.digest(), "key": key, "base": base,
                                  "added": sorted(added)}, indent=1))
    # The stand-in google.colab: a namespace package part, so google.protobuf & co. still import.
    standin = venv / "colab-standin" / "google" / "colab"
    standin.mkdir(parents=True, exist_ok=True)
    (standin / "__init__.py").write_text('"""Stand-in for Colab\'s google.colab (tests only)."""\n')
    return python, base, start


def reset(python: Path, start: dict[str, str], constraints: Path) -> list[str]:
    """Back to a fresh runtime: uninstall what was added, restore what was changed."""
    now = installed(python)
    extra = sorted(n for n in now if n not in start)
    if extra:
        run([str(python), "-m", "pip", "uninstall", "-q", "-y", *extra])
    changed = [f"{n}=={v}" for n, v in sorted(start.items()) if now.get(n) != v]
    if changed:
        run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-c", str(constraints),
             *changed])
    return extra


def requirements_digest(wheel: Path) -> str:
    """A digest of the wheel's ``Requires-Dist`` lines: what ``closure`` resolves from it."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode("utf-8").splitlines()
    requires = sorted(line for line in lines if line.startswith("Requires-Dist:"))
    return hashlib.sha256("\n".join(requires).encode()).hexdigest()[:16]


def build_wheel(out: Path) -> Path:
    """A wheel of this checkout, the source the install cells install from. Built from a copy,
    so that setuptools writes nothing here (CI builds it while the book's editable install
    writes its own metadata in the checkout)."""
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "_build", "node_modules", "artifacts", "build", "*.egg-info",
        "__pycache__", ".pytest_cache", ".ruff_cache"))
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)])
    (wheel,) = out.glob("mbcourse-*.whl")
    return wheel


def first_code(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def install_specs(chapters: list[Path]) -> dict[str, str]:
    """``{chapter: 'mbcourse' or 'mbcourse[extra]'}`` from each chapter's install cell."""
    specs = {}
    for path in chapters:
        match = INSTALL_SPEC.search(first_code(path))
        if not match:
            raise SystemExit(f"{path.name}: its first code cell has no Colab install line")
        specs[path.name] = match.group(1)
    return specs


def colab_block(source: str) -> str:
    """The install cell's statements up to its ``if "google.colab" in sys.modules:`` block."""
    tree = ast.parse(source)
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.If) and "google.colab" in ast.unparse(node.test):
            return ast.unparse(ast.Module(body=tree.body[: index + 1], type_ignores=[]))
    raise SystemExit("the install cell has no `if \"google.colab\" in sys.modules:` block")


def dry_run(python: Path, venv: Path, chapter: Path, spec: str, wheel: Path,
            freeze: Freeze) -> Outcome:
    """The chapter's own install block under ``PIP_DRY_RUN``: what would it change in Colab?"""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = {**os.environ, "PYTHONPATH": str(venv / "colab-standin"),
               "MBCOURSE_SOURCE": wheel.as_uri(), "PIP_DRY_RUN": "1", "PIP_REPORT": str(report),
               "VIRTUAL_ENV": str(venv)}
        code = "import google.colab\n" + colab_block(first_code(chapter))
        proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env,
                              cwd=tmp)
        if proc.returncode != 0 or not report.is_file():
            return Outcome(f"install cell of {spec} (dry run)", time.perf_counter() - t0,
                           f"the install cell failed:\n{proc.stderr[-2000:]}")
        planned = {item["metadata"]["name"]: item["metadata"]["version"]
                   for item in json.loads(report.read_text())["install"]}
    changes = freeze.changes(planned)
    names = [f"{n}=={v}" for n, v in sorted(planned.items())]
    same = [n for n, v in planned.items()
            if public(freeze.cpu.get(canonical(n), "")) == public(v)]
    details = [f"plans to install: {', '.join(names) or 'nothing'}"]
    if same:  # Colab has them already, so there pip would plan nothing for them
        details.append(f"of which Colab already has that version: {', '.join(sorted(same))}")
    error = f"would change {'; '.join(changes)}" if changes else ""
    return Outcome(f"install cell of {spec} (dry run, {chapter.name})", time.perf_counter() - t0,
                   error, details)


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
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        },
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
    return venv / "share" / "jupyter"


# -- the Colab edition through nbval -------------------------------------------------------------

def book_outputs(outputs: list[dict]) -> list[dict]:
    """A cell's outputs as the book build got them.

    With ``nb_merge_streams`` myst-nb appends each later stream output of a cell to the first
    one of its name, in place, and writes the notebook with the later ones still there: a
    ``print`` shows twice in ``_build/jupyter_execute``. Such a merged first stream ends with the
    texts of the later ones; then those are left out.
    """
    def text(out: dict) -> str:
        return "".join(out["text"]) if isinstance(out["text"], list) else out["text"]

    dropped: set[int] = set()
    for name in {o.get("name") for o in outputs if o.get("output_type") == "stream"}:
        streams = [o for o in outputs if o.get("output_type") == "stream" and o["name"] == name]
        later = "".join(text(o) for o in streams[1:])
        if len(streams) > 1 and text(streams[0]).endswith(later) and text(streams[0]) != later:
            dropped.update(id(o) for o in streams[1:])
    return [o for o in outputs if id(o) not in dropped]


def with_reference_outputs(edition: dict, executed: dict) -> tuple[dict, int]:
    """The edition notebook with the build's outputs in its ``nbval-check-output`` cells."""
    by_id = {c.get("id"): c for c in executed["cells"] if c["cell_type"] == "code"}
    checked = 0
    for cell in edition["cells"]:
        if cell["cell_type"] != "code" or "nbval-check-output" not in cell["metadata"].get(
            "tags", []
        ):
            continue
        ran = by_id.get(cell.get("id"))
        if ran is None:
            raise SystemExit(f"no executed cell {cell.get('id')!r} in the build's notebook")
        cell["outputs"] = book_outputs(ran["outputs"])
        cell["execution_count"] = ran.get("execution_count") or 1
        checked += 1
    return edition, checked


def nbval_failures(output: str) -> str:
    """The part of pytest's output that says which cells failed and how."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", output)
    lines = [line for line in text.splitlines() if line.strip()]
    keep = [i for i, line in enumerate(lines) if re.search(
        r"Cell outputs differ|Cell execution caused an exception|Error|error:|^E |Timeout|"
        r"failed|FAILED", line)]
    if not keep:
        return "\n".join(lines[-12:])
    start = max(0, keep[0] - 2)
    return "\n".join(lines[start:start + 40])


def run_chapter(reference: Path, python: Path, start: dict[str, str], constraints: Path,
                timeout: int) -> Outcome:
    """One chapter of the Colab edition under nbval in the learner kernel, from a fresh runtime."""
    reset(python, start, constraints)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
           "--nbval-kernel-name", KERNEL, "--nbval-cell-timeout", str(timeout),
           "--nbval-kernel-startup-timeout", "120", "-o", "addopts=", reference.name]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=reference.parent)
    seconds = time.perf_counter() - t0
    summary = [line for line in proc.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    error = "" if proc.returncode == 0 else nbval_failures(proc.stdout + proc.stderr)
    now = installed(python)
    changed = [f"{n} {v} -> {now.get(n, 'uninstalled')}" for n, v in sorted(start.items())
               if now.get(n) != v]
    if changed:
        error = (error + "\n" if error else "") + (
            "the install cell changed preinstalled packages: " + ", ".join(changed))
    added = sorted(n for n in now if n not in start)
    details = [f"nbval: {summary[-1].strip() if summary else 'no summary'}",
               f"added to Colab's packages: {', '.join(added) or 'nothing'}"]
    return Outcome(reference.stem, seconds, error, details)


def drive_widgets(python: Path, wheel: Path, start: dict[str, str], constraints: Path) -> Outcome:
    """Build every exercise widget under the learner's ipywidgets and press Check on each."""
    reset(python, start, constraints)
    t0 = time.perf_counter()
    run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints),
         f"mbcourse @ {wheel.as_uri()}"])
    script = ROOT / "tests" / "learner" / "drive_widgets.py"
    env = {**os.environ, "VIRTUAL_ENV": str(python.parents[1])}
    proc = subprocess.run([str(python), str(script)], capture_output=True, text=True, cwd=ROOT,
                          env=env)
    lines = proc.stdout.strip().splitlines()
    error = "" if proc.returncode == 0 else (proc.stderr.strip()[-2000:] or "failed")
    return Outcome("exercise widgets (Colab's ipywidgets)", time.perf_counter() - t0, error,
                   lines[-3:])


def markdown_report(outcomes: list[Outcome], versions: dict[str, str], freeze: Freeze,
                    notes: list[str]) -> str:
    """The summary as Markdown: a table of steps, then each failure's error."""
    failed = [o for o in outcomes if not o.ok]
    head = "All chapters ran" if not failed else f"{len(failed)} step(s) failed"
    shown = ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "ipykernel", "ipython",
             "protobuf")
    pinned = ", ".join(f"{n} {versions[n]}" for n in shown if n in versions)
    lines = [f"## Learner environment: {head}", "",
             f"Colab as published: {freeze.source or freeze.folder} (Python {freeze.python}). "
             f"Environment: Python {versions.get('python', '?')}, {pinned}; no book or test "
             "extras.", ""]
    lines += [f"Note: {n}" for n in notes] + ([""] if notes else [])
    lines += ["| step | seconds | result |", "|---|---:|---|"]
    lines += [f"| {o.name} | {o.seconds:.0f} | {'ok' if o.ok else 'FAILED'} |" for o in outcomes]
    for o in outcomes:
        if o.details or not o.ok:
            lines += ["", f"### {o.name}", ""] + [f"- {d}" for d in o.details]
            if not o.ok:
                lines += ["", "```", o.error, "```"]
    return "\n".join(lines) + "\n"


def chapter_extras(specs: dict[str, str]) -> list[str]:
    extras: set[str] = set()
    for spec in specs.values():
        found = re.search(r"\[([\w,-]+)\]", spec)
        if found:
            extras.update(e.strip() for e in found[1].split(","))
    return sorted(extras)


def prepare(venv: Path, freeze: Freeze, extras: list[str], fresh: bool) -> int:
    """Build the learner environment and stop (``--prepare``)."""
    os.environ.pop("PYTHONPATH", None)  # as in main()
    t0 = time.perf_counter()
    python_exe, note = find_python(freeze.python)
    if note:
        print(f"NOTE: {note}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        _, base, _ = make_env(venv, freeze, build_wheel(Path(tmp)), extras, fresh, python_exe)
    print(f"learner environment prepared ({time.perf_counter() - t0:.0f} s): {venv}; "
          f"{len(base)} of Colab's packages", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter files (default: every book/*.ipynb)")
    default_venv = Path(os.environ.get("MBCOURSE_LEARNER_VENV", ROOT / ".venv-learner"))
    parser.add_argument("--venv", type=Path, default=default_venv)
    parser.add_argument("--freeze", type=Path, default=FREEZE,
                        help="folder with Colab's pip-freeze.txt (default: tools/colab)")
    parser.add_argument("--build", type=Path, default=BUILD,
                        help="the book build holding colab/ and jupyter_execute/ (default: _build)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the environment")
    parser.add_argument("--prepare", action="store_true",
                        help="only build the environment (needs no book: CI runs it while the "
                        "book builds); a later run reuses it")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--report", type=Path, help="write a Markdown summary here")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"),
                        help="only print what changed between two copies of the freeze")
    args = parser.parse_args(argv)
    chapters = [Path(c).resolve() for c in args.chapters] or sorted(BOOK.glob("*.ipynb"))
    specs = install_specs(chapters)
    freeze = Freeze.read(args.freeze)

    if args.compare:
        old, new = (Freeze.read(p) for p in args.compare)
        venv_base = args.venv / "colab-base.json"
        watched = set(json.loads(venv_base.read_text())["base"]) if venv_base.is_file() else set()
        text = "\n".join(compare_freezes(old, new, watched | set(map(canonical, KERNEL_STACK))))
        print(text)
        if args.report:
            args.report.write_text(text + "\n")
        return 0

    if args.prepare:
        return prepare(args.venv.resolve(), freeze, chapter_extras(specs), args.fresh)

    edition, executed = args.build / "colab", args.build / "jupyter_execute"
    missing = [c for c in chapters
               if not (edition / c.relative_to(ROOT)).is_file()
               or not (executed / c.relative_to(ROOT)).is_file()]
    if missing:
        raise SystemExit(
            "learner_env: no Colab edition or executed notebook of "
            f"{', '.join(m.name for m in missing)} under {args.build}: build the book first "
            "(README's book command)")

    # The learner's Python sees only its own environment (a developer's PYTHONPATH pointing at
    # this checkout would make pip list mbcourse as installed there).
    os.environ.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    python_exe, note = find_python(freeze.python)
    notes = [note] if note else []
    if note:
        print(f"NOTE: {note}", flush=True)
    outcomes: list[Outcome] = []
    venv = args.venv.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp))
        python, base, start = make_env(venv, freeze, wheel, chapter_extras(specs), args.fresh,
                                       python_exe)
        constraints = venv / "colab-constraints.txt"
        versions = installed(python)
        versions["python"] = run([str(python), "-c", "import platform; "
                                  "print(platform.python_version())"]).stdout.strip()
        print(f"learner environment ready ({time.perf_counter() - t0:.0f} s): {venv}; "
              f"{len(base)} of Colab's packages; Python {versions['python']}", flush=True)
        for spec in sorted(set(specs.values())):
            chapter = next(c for c in chapters if specs[c.name] == spec)
            outcomes.append(dry_run(python, venv, chapter, spec, wheel, freeze))
            print(f"{outcomes[-1].name}: {'ok' if outcomes[-1].ok else outcomes[-1].error}",
                  flush=True)
        os.environ["JUPYTER_PATH"] = str(write_kernel(venv, python, wheel))
        references = Path(tmp) / "edition"
        shutil.copytree(edition, references)
        for path in chapters:
            rel = path.relative_to(ROOT)
            notebook, checked = with_reference_outputs(
                json.loads((edition / rel).read_text(encoding="utf-8")),
                json.loads((executed / rel).read_text(encoding="utf-8")),
            )
            (references / rel).write_text(json.dumps(notebook), encoding="utf-8")
            outcome = run_chapter(references / rel, python, start, constraints, args.timeout)
            outcome.details.insert(0, f"{checked} cell(s) checked against the book's outputs")
            outcomes.append(outcome)
            print(f"{outcome.name:<34} {outcome.seconds:6.1f} s  "
                  f"{'ok' if outcome.ok else 'FAILED'}  ({outcome.details[1]})", flush=True)
            if not outcome.ok:
                print("    " + outcome.error.replace("\n", "\n    "), flush=True)
        outcomes.append(drive_widgets(python, wheel, start, constraints))
        print(f"{outcomes[-1].name}: {'ok' if outcomes[-1].ok else outcomes[-1].error}",
              flush=True)
        reset(python, start, constraints)

    report = markdown_report(outcomes, versions, freeze, notes)
    if args.report:
        args.report.write_text(report)
    failed = [o.name for o in outcomes if not o.ok]
    print(f"total {time.perf_counter() - t0:.0f} s; "
          + (f"FAILED: {', '.join(failed)}" if failed else "every chapter ran"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
