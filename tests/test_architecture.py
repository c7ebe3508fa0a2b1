"""The package's layers (ARCHITECTURE.md): imports flow one way, and chapters use the package.

Every module's imports are read with ``ast`` (including imports inside functions), resolved to
the package's top-level units (``blocks``, ``models``, ``measure``, ...) and checked against
the layer order. Chapters are parsed the same way: none may define a function that the package
already provides.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
from pathlib import Path

import pytest

import mbcourse

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mbcourse"

#: Lower layers first. A unit may import units of lower layers only (and itself).
LAYERS: list[set[str]] = [
    {"runtime", "validation", "display"},  # leaves: torch / IPython only
    {"blocks", "introspect"},  # introspect: the one tracer, eval_mode, device/dtype, shape fit
    {"costs"},
    {"models"},
    {"measure", "inference", "training"},
    {"deploy", "viz"},  # deploy: ONNX, int8; viz: figures, with measure's counts
    {"studies"},
    {"exercises"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}

#: Imports that break the order today, each with the issue that removes it. The test fails when
#: one of them disappears, so that the list cannot outlive its reason.
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


def _unit(module: str) -> str | None:
    """``mbcourse.measure.timing`` -> ``measure``; ``mbcourse`` itself -> None."""
    parts = module.split(".")
    if parts[0] != "mbcourse" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of every ``mbcourse`` module ``path`` imports (relative ones resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mbcourse"))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if not base.startswith("mbcourse"):
                continue
            if node.module is None or base == "mbcourse":  # from . import x / from .. import x
                found.update(f"{base}.{a.name}" for a in node.names)
            else:
                found.add(base)
    return found


def _edges() -> set[tuple[str, str, str]]:
    """``(importing unit, imported unit, file)`` for every import between two units."""
    edges = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        source_unit = _unit(_module_name(path))
        if source_unit is None:  # mbcourse/__init__.py: the package's front door
            continue
        for target in _imported_modules(path):
            target_unit = _unit(target)
            if target_unit is not None and target_unit != source_unit:
                edges.add((source_unit, target_unit, str(path.relative_to(ROOT))))
    return edges


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")} - {None}
    assert units <= set(RANK), f"add {sorted(units - set(RANK))} to LAYERS and ARCHITECTURE.md"


def test_imports_flow_one_way() -> None:
    upward = sorted(
        f"{path}: {src} (layer {RANK[src]}) imports {dst} (layer {RANK[dst]})"
        for src, dst, path in _edges()
        if RANK[dst] >= RANK[src] and (src, dst) not in KNOWN_EXCEPTIONS
    )
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_known_exceptions_still_exist() -> None:
    pairs = {(src, dst) for src, dst, _ in _edges()}
    stale = KNOWN_EXCEPTIONS - pairs
    assert not stale, f"remove {sorted(stale)} from KNOWN_EXCEPTIONS: the import is gone"


def test_leaf_modules_import_nothing_from_the_package() -> None:
    for unit in LAYERS[0]:
        path = PACKAGE / f"{unit}.py"
        assert _imported_modules(path) == set(), unit


# ------------------------------------------------------------------- one introspection layer
#: Looking into a running module is introspect's job: forward hooks are registered there (and in
#: blocks.record_se_gates, which records the SE gates' values, not calls), and a mode is restored
#: with introspect.eval_mode, never with ``module.train(was_training)`` (which resets every
#: submodule to the parent's flag).
HOOK_OWNERS = {"mbcourse/introspect.py", "mbcourse/blocks.py"}


def _package_sources() -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def test_forward_hooks_live_in_the_introspection_layer() -> None:
    hooking = sorted(
        name for name, text in _package_sources()
        if "register_forward_hook" in text or "register_forward_pre_hook" in text
    )
    assert set(hooking) <= HOOK_OWNERS, f"use mbcourse.introspect.trace_calls in {hooking}"


def test_modes_are_restored_by_eval_mode() -> None:
    resetting = sorted(name for name, text in _package_sources() if "was_training" in text)
    assert not resetting, f"use mbcourse.introspect.eval_mode in {resetting}"


def test_the_import_reader_sees_relative_and_nested_imports() -> None:
    imports = _imported_modules(PACKAGE / "studies" / "performance.py")
    assert {"mbcourse.costs", "mbcourse.measure.timing", "mbcourse.inference"} <= imports
    assert "mbcourse.models" in _imported_modules(PACKAGE / "training" / "train.py")  # in main()


# ------------------------------------------------------------------------------------ chapters
#: Helpers chapters used to define before the package had them.
RETIRED_HELPERS = {"n_params", "measured_macs", "intensity"}


def _package_functions() -> set[str]:
    """Names of the public functions that the package's modules list in ``__all__``."""
    names: set[str] = set()
    modules = [mbcourse] + [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(mbcourse.__path__, "mbcourse.")
    ]
    for module in modules:
        for name in getattr(module, "__all__", []):
            if inspect.isfunction(getattr(module, name, None)):
                names.add(name)
    return names


def _chapter_functions(path: Path) -> set[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    names = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        code = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
        for node in ast.parse(code).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
    return names


CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))


def test_package_functions_are_found() -> None:
    functions = _package_functions()
    assert {"count_parameters", "count_flops", "compare_latency", "arithmetic_intensity"} <= (
        functions
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_do_not_redefine_package_helpers(chapter: Path) -> None:
    clashes = _chapter_functions(chapter) & (_package_functions() | RETIRED_HELPERS)
    assert not clashes, f"{chapter.name} defines {sorted(clashes)}: use the package's instead"
