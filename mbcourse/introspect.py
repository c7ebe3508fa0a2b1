"""Looking inside a module while it runs: the one introspection layer of the package.

Everything that runs a module to learn something about it (``measure``'s counts and memory,
``viz``'s diagrams, ``exercises``' checkers) uses these few tools, so that each job is done once:

* :func:`module_device`, :func:`module_dtype`: where a module's tensors live and their dtype;
  :func:`example_input`: a standard-normal input there, of that dtype.
* :func:`input_channels`, :func:`check_input_shape`: the channels a module takes, and the one
  check that an ``input_shape`` argument fits the module it is meant for.
* :func:`eval_mode`: eval mode for a ``with`` block, restoring every submodule's *own* training
  flag afterwards (restoring only the parent's flag with ``module.train(flag)`` would reset
  them all to it).
* :func:`trace_calls`: forward hooks that record which modules a forward pass enters, in order,
  with the shapes and bytes of what each one received and returned; the hooks are removed on
  exit, so the modules keep no state.

Shapes are tuples such as ``(N, C, H, W)``. A layer-1 unit: it imports only torch and
:mod:`mbcourse.validation`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

from .validation import check_module, check_shape, is_int

__all__ = [
    "Call",
    "check_input_shape",
    "eval_mode",
    "example_input",
    "input_channels",
    "module_device",
    "module_dtype",
    "trace_calls",
]


def module_device(module: nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer (``cpu`` for an empty module)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def module_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of the module's first floating-point parameter (else the default dtype)."""
    for tensor in module.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def input_channels(module: nn.Module) -> int | None:
    """The channel count ``module`` takes: the ``in_channels`` of every block and network of the
    package (and of ``nn.Conv2d``), the ``channels`` of a ``SqueezeExcitation``; ``None`` for a
    module that does not say."""
    for attr in ("in_channels", "channels"):
        value = getattr(module, attr, None)
        if is_int(value):
            return value
    return None


def check_input_shape(
    func: str,
    module: nn.Module,
    shape: object,
    *,
    name: str = "input_shape",
    ndim: int | None = None,
) -> tuple[int, ...]:
    """``shape`` as a tuple if it is a tensor shape (:func:`~mbcourse.validation.check_shape`,
    ``ndim`` entries when given) that ``module`` accepts, else a ``ValueError`` naming ``func``.

    A module that says how many channels it takes (:func:`input_channels`) needs
    ``(N, C, H, W)`` with that ``C``.
    """
    shape = check_shape(func, name, shape, ndim=ndim)
    channels = input_channels(module)
    if channels is not None and (len(shape) != 4 or shape[1] != channels):
        raise ValueError(
            f"{func}: {type(module).__name__} does not accept an input of shape {shape}: it "
            f"expects {channels} input channels, (N, {channels}, H, W)"
        )
    return shape


def example_input(
    module: nn.Module, shape: Sequence[int], *, generator: torch.Generator | None = None
) -> Tensor:
    """A standard-normal tensor of ``shape`` on ``module``'s device, in its dtype."""
    shape = check_shape("example_input", "shape", shape)
    return torch.randn(shape, generator=generator, device=module_device(module),
                       dtype=module_dtype(module))


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` and every submodule in eval mode; on exit restore each one's own flag.

    Yields ``module``. A submodule that was in eval mode inside a training parent (a frozen
    BatchNorm, say) is in eval mode again afterwards.
    """
    check_module("eval_mode", "module", module)
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:  # parents before children: each ends with its own flag
            m.train(training)


def _first_shape_and_bytes(value: object) -> tuple[tuple[int, ...] | None, int]:
    """The shape of the first tensor in ``value`` (a tensor or nested tuples, lists, dicts) and
    the bytes of all of them."""
    tensors = [t for t in tree_leaves(value) if isinstance(t, Tensor)]
    if not tensors:
        return None, 0
    return tuple(tensors[0].shape), sum(t.numel() * t.element_size() for t in tensors)


@dataclass
class Call:
    """One module entered by a forward pass, as :func:`trace_calls` saw it.

    ``in_shape`` is the shape of the first tensor argument (``None`` when there is none),
    ``in_bytes`` the bytes of all tensor arguments; ``out_shape``/``out_bytes`` the same for
    what the module returned, filled in when it returns (``returned``; a module whose forward
    raised never does). No tensor is kept, only shapes and sizes.
    """

    name: str
    module: nn.Module
    in_shape: tuple[int, ...] | None
    in_bytes: int
    out_shape: tuple[int, ...] | None = None
    out_bytes: int = 0
    returned: bool = False


Hook = Callable[[Call], object]


@contextlib.contextmanager
def trace_calls(
    modules: nn.Module | Iterable[tuple[str, nn.Module]],
    *,
    on_enter: Hook | None = None,
    on_exit: Hook | None = None,
) -> Iterator[list[Call]]:
    """Record the modules a forward pass enters while the ``with`` block runs.

    ``modules``: ``(name, module)`` pairs to watch, or a module, meaning each of its submodules
    (``named_modules()`` names) but not the module itself. Yields a list that fills with one
    :class:`Call` per watched module, in the order the forward pass *enters* them (forward
    pre-hooks), so the order of registration does not matter; only a module's first call is
    recorded. ``on_enter(call)`` runs as a recorded call starts, ``on_exit(call)`` once it has
    returned (with its output filled in). When the forward pass raises, the calls that never
    returned are the module stack at the error, outermost first: ``[c.name for c in calls if not
    c.returned]`` is e.g. ``["se", "se.fc1"]`` for a conv in the SE that got the wrong
    channels. The hooks are removed on exit::

        with eval_mode(block), torch.no_grad(), trace_calls(block) as calls:
            block(example_input(block, (1, 16, 8, 8)))
        [(c.name, c.in_shape, c.out_shape) for c in calls]
    """
    if isinstance(modules, nn.Module):
        root = modules
        watched = [(name, m) for name, m in root.named_modules() if m is not root]
    else:
        watched = list(modules)
        for name, m in watched:
            check_module("trace_calls", f"modules[{name!r}]", m)
    calls: list[Call] = []
    by_module: dict[int, Call] = {}

    def enter(name: str) -> Callable[[nn.Module, tuple[Any, ...]], None]:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            if id(module) in by_module:
                return
            call = Call(name, module, *_first_shape_and_bytes(args))
            by_module[id(module)] = call
            calls.append(call)
            if on_enter is not None:
                on_enter(call)

        return hook

    def leave(module: nn.Module, args: tuple[Any, ...], output: object) -> None:
        call = by_module.get(id(module))
        if call is None or call.returned:
            return
        call.out_shape, call.out_bytes = _first_shape_and_bytes(output)
        call.returned = True
        if on_exit is not None:
            on_exit(call)

    handles = []
    try:
        for name, m in watched:
            handles.append(m.register_forward_pre_hook(enter(name)))
            handles.append(m.register_forward_hook(leave))
        yield calls
    finally:
        for handle in handles:
            handle.remove()
