"""The rows of every table: the blocks of a network and the stages they form.

A block is an outermost instance of one of the classes of :mod:`mbcourse.blocks`
(``ConvNormAct``, ``InvertedResidual``, ``MBConv``, ...); modules that sit outside every block
(pooling, dropout, the classifier's ``Linear``) are rows of their own. Stages are the model's
own grouping when it has a ``stage_modules()`` method (the networks of :mod:`mbcourse.models`:
``stem``, ``stage1``, ..., ``head``), with the pooling and classifier rows gathered as
``classifier``; otherwise each top-level child of the model is a stage. Taught in chapter 6
(book/06_whole_networks.ipynb).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from torch import nn

from ..blocks import (
    ConvNormAct,
    DepthwiseSeparableConv,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
)
from ..validation import check_module

__all__ = ["BLOCK_TYPES", "Named", "named_blocks", "named_stages", "type_summary"]

#: The classes whose outermost instances are the rows of the per-block tables.
BLOCK_TYPES: tuple[type[nn.Module], ...] = (
    ConvNormAct,
    DepthwiseSeparableConv,
    InvertedResidual,
    MBConv,
    FusedMBConv,
    SqueezeExcitation,
)

Named = tuple[str, nn.Module]



def type_summary(modules: Sequence[nn.Module]) -> str:
    """``"InvertedResidual x 3"``, or ``"ConvNormAct + MBConv x 2"`` for a mixed group."""
    counts = Counter(type(m).__name__ for m in modules)
    return " + ".join(f"{name} x {n}" if n > 1 else name for name, n in counts.items())


def named_blocks(model: nn.Module) -> list[Named]:
    """The rows of the per-block tables, in forward order of registration.

    An outermost instance of :data:`BLOCK_TYPES` is one row; so is every leaf module outside
    all blocks, except ``nn.Identity``. A model that *is* a block is its own single row.
    """
    check_module("named_blocks", "model", model)
    rows: list[Named] = []

    def visit(prefix: str, module: nn.Module) -> None:
        if isinstance(module, BLOCK_TYPES):
            rows.append((prefix or type(module).__name__, module))
            return
        children = list(module.named_children())
        if not children:
            if not isinstance(module, nn.Identity):
                rows.append((prefix or type(module).__name__, module))
            return
        for name, child in children:
            visit(f"{prefix}.{name}" if prefix else name, child)

    visit("", model)
    return rows


def named_stages(model: nn.Module) -> list[tuple[str, list[Named]]]:
    """Blocks grouped into stages: ``[(stage_name, [(block_name, block), ...]), ...]``.

    Uses ``model.stage_modules()`` when the model has it (blocks outside every stage, i.e. the
    pooling and the classifier, form a last stage called ``classifier``); otherwise each
    top-level child of the model is a stage.
    """
    check_module("named_stages", "model", model)
    blocks = named_blocks(model)
    groups: list[tuple[str, list[Named]]] = []
    stage_modules = getattr(model, "stage_modules", None)
    if callable(stage_modules):
        assigned: set[int] = set()
        for stage_name, stage in stage_modules().items():
            inside = {id(m) for m in stage.modules()}
            members = [b for b in blocks if id(b[1]) in inside and id(b[1]) not in assigned]
            assigned.update(id(b[1]) for b in members)
            groups.append((stage_name, members))
        rest = [b for b in blocks if id(b[1]) not in assigned]
        if rest:
            groups.append(("classifier", rest))
        return groups
    for name, block in blocks:
        top = name.split(".")[0]
        if groups and groups[-1][0] == top:
            groups[-1][1].append((name, block))
        else:
            groups.append((top, [(name, block)]))
    return groups
