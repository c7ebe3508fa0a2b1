"""Stored measurements: provenance, and finding ``book/data/*.json`` wherever a chapter runs.

Runs too heavy for a one-minute chapter (chapter 7's seeds, a GPU sweep) are made by a command
and stored as JSON in ``book/data/``. Each file carries its :func:`provenance`: the commit, the
command, the date, the software versions and the machine (CPU model, cores, threads, GPU), so a
reader can tell where every number came from and a test can re-run a sample of it.

:func:`find_stored` looks for a stored file next to the chapter (``data/NAME`` when the chapter
runs from ``book/``, ``book/data/NAME`` from the repository root, the repository this package
lives in) and, in Colab, where the notebook has no ``data/`` folder, fetches it from the commit
that pip installed the package from (``direct_url.json``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "DATA_DIR",
    "cpu_model",
    "find_stored",
    "git_commit",
    "machine",
    "provenance",
    "read_json",
    "sha256_of",
    "versions",
    "write_json",
]

#: ``book/data`` of the repository this package lives in (when it lives in one).
DATA_DIR = Path(__file__).resolve().parents[2] / "book" / "data"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    """The vector-instruction flags that decide which kernels oneDNN runs (x86 Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "sse4")))
    except OSError:
        pass
    return []


def machine(threads: int | None = None) -> dict[str, Any]:
    """CPU model, cores, the threads a measurement used, vector flags, and the GPU if any."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "architecture": platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads() if threads is None else threads,
        "cpu_flags": _cpu_flags(),
        "system": f"{platform.system()} {platform.release()}",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a measurement depends on."""
    import numpy

    found = {"python": platform.python_version(), "torch": torch.__version__,
             "numpy": numpy.__version__}
    for name in ("scipy", "sklearn", "torchvision", "onnxruntime"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                continue
        found[name] = str(getattr(module, "__version__", "?"))
    if torch.cuda.is_available():
        found["cuda"] = str(torch.version.cuda)
        found["cudnn"] = str(torch.backends.cudnn.version())
    return found


def git_commit(root: Path | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository at ``root``."""
    root = root or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=root, capture_output=True, text=True, check=True,
                                timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha, "dirty": bool(status.strip())}


def provenance(command: str, *, threads: int | None = None) -> dict[str, Any]:
    """Everything a stored file says about where it came from."""
    return {
        **git_commit(),
        "command": command,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "machine": machine(threads),
    }


def sha256_of(*arrays: Any) -> str:
    """Hex SHA-256 of the bytes of some arrays/tensors (in order): a data set's fingerprint."""
    digest = hashlib.sha256()
    for array in arrays:
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu().contiguous().numpy()
        digest.update(memoryview(array).tobytes())
    return digest.hexdigest()


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as indented JSON (creating folders), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(data, indent=1) + "\n")
    partial.replace(path)
    return path


def read_json(path: str | Path, func: str = "read_json") -> dict[str, Any]:
    """A stored JSON object; a clear error, naming ``func``, if it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{func}: {path} is not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{func}: {path} must hold a JSON object")
    return data


def _installed_commit_url(name: str) -> str | None:
    """The raw-file URL of ``book/data/NAME`` at the commit pip installed mbcourse from."""
    from importlib import metadata

    try:
        text = metadata.distribution("mbcourse").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    info = json.loads(text)
    url, commit = info.get("url", ""), info.get("vcs_info", {}).get("commit_id")
    prefix = "https://github.com/"
    if not commit or not url.startswith(prefix):
        return None
    repository = url[len(prefix):].removesuffix(".git").strip("/")
    return f"https://raw.githubusercontent.com/{repository}/{commit}/book/data/{name}"


def find_stored(name: str, *, download: bool | None = None) -> Path:
    """The path of the stored file ``name`` (e.g. ``"ch7_experiments.json"``).

    Looks in ``data/`` and ``book/data/`` under the working directory, then in this
    repository's :data:`DATA_DIR`. ``download`` (default: only in Colab) fetches the file from
    the GitHub commit pip installed the package from, into ``data/``. Raises
    ``FileNotFoundError`` naming the places it looked and the command that makes the file.
    """
    candidates = [Path("data") / name, Path("book") / "data" / name, DATA_DIR / name]
    for path in candidates:
        if path.is_file():
            return path
    if download is None:
        download = "google.colab" in sys.modules
    url = _installed_commit_url(name) if download else None
    if url is not None:
        import urllib.request

        target = Path("data") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as response:
            target.write_bytes(response.read())
        return target
    looked = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"find_stored: {name} is not in {looked}. It is stored with the book in book/data/; "
        "run the chapter from the repository (or its book/ folder), or re-create the file "
        "with the command its chapter names."
    )
