"""Why MobileNetV2's bottleneck is linear: ReLU on a low-dimensional manifold (paper, Figure 1).

A 2-D spiral ``x`` (``(P, 2)``) is embedded into ``n`` dimensions by a random matrix ``T``
(``(n, 2)``), passed through ReLU and projected back with the pseudo-inverse ``T⁺``:
``x̂ = T⁺ ReLU(T x)``. For small ``n`` whole stretches of the spiral collapse onto each other;
for ``n = 15`` or ``30`` the curve survives, bent. :attr:`SpiralEmbedding.recoverable` says,
point by point, whether ``x`` is determined by ``ReLU(T x)`` at all: exactly when the rows of
``T`` that are active at ``x`` (``T_i x > 0``) span the plane, and then :func:`recover` finds
``x`` again by least squares on those rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..validation import check_int, check_positive

__all__ = [
    "SpiralEmbedding",
    "collapse_statistics",
    "recover",
    "relu_roundtrip",
    "spiral",
    "spiral_experiment",
]

PAPER_DIMS = (2, 3, 5, 15, 30)  # MobileNetV2, Figure 1


def spiral(num_points: int = 800, turns: float = 2.0) -> Tensor:
    """An Archimedean spiral around the origin, ``(num_points, 2)``, radius from 0.1 to 1."""
    check_int("spiral", "num_points", num_points, minimum=2)
    check_positive("spiral", "turns", turns)
    t = torch.linspace(0.0, 1.0, num_points, dtype=torch.float64)
    angle = 2 * math.pi * turns * t
    radius = 0.1 + 0.9 * t
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)


@dataclass(frozen=True)
class SpiralEmbedding:
    """One run of ``x -> T⁺ ReLU(T x)`` for embedding dimension ``dim``."""

    dim: int
    transform: Tensor  # T, (n, 2)
    embedded: Tensor  # ReLU(T x), (P, n)
    reconstruction: Tensor  # T⁺ ReLU(T x), (P, 2)
    recoverable: Tensor  # (P,) bool: the active rows of T have rank 2

    @property
    def collapsed_fraction(self) -> float:
        """Fraction of points whose position ReLU destroyed (not determined by the output)."""
        return 1.0 - float(self.recoverable.double().mean())

    def reconstruction_error(self, points: Tensor) -> float:
        """Mean distance between ``points`` and the ``T⁺`` reconstruction, relative to the
        mean norm of the points."""
        err = (self.reconstruction - points).norm(dim=1).mean()
        return float(err / points.norm(dim=1).mean())


def _check_points(func: str, points: object) -> Tensor:
    if not isinstance(points, Tensor) or points.dim() != 2 or points.shape[1] != 2:
        shape = tuple(points.shape) if isinstance(points, Tensor) else type(points).__name__
        raise ValueError(f"{func}: points must be a (P, 2) tensor, got {shape}")
    return points.to(torch.float64)


def _check_dim(func: str, dim: object) -> int:
    return check_int(func, "dim", dim, minimum=2, why="the spiral is 2-D")


def _active_rank(embedded: Tensor, transform: Tensor) -> Tensor:
    """Rank of the rows of ``T`` active at each point: integers in {0, 1, 2}.

    ``embedded`` is ``(..., P, n)`` and ``transform`` ``(..., n, 2)`` (leading dimensions
    batch several matrices ``T``); the result is ``(..., P)``.
    """
    active = (embedded > 0).to(transform.dtype)
    # Gram matrix of the active rows, sum_i a_i T_i T_i^T, as (..., P, 4) = [a, b; c, d]
    outer = (transform[..., :, :, None] * transform[..., :, None, :]).flatten(-2)
    gram = active @ outer
    # a 2 x 2 PSD matrix has rank 2 iff det > 0 and rank >= 1 iff trace > 0 (relative tolerance)
    trace = gram[..., 0] + gram[..., 3]
    det = gram[..., 0] * gram[..., 3] - gram[..., 1] * gram[..., 2]
    scale = (transform**2).sum(dim=(-2, -1))[..., None]
    nonzero = trace > 1e-12 * scale
    full = nonzero & (det > 1e-10 * trace**2)
    return nonzero.long() + full.long()


def relu_roundtrip(
    points: Tensor,
    dim: int,
    *,
    generator: torch.Generator | None = None,
    activation: Callable[[Tensor], Tensor] = torch.relu,
) -> SpiralEmbedding:
    """Embed ``points`` (``(P, 2)``) with a random Gaussian ``T`` (``(dim, 2)``), apply
    ``activation`` (ReLU) and project back with ``T⁺``."""
    func = "relu_roundtrip"
    x = _check_points(func, points)
    dim = _check_dim(func, dim)
    transform = torch.randn(dim, 2, generator=generator, dtype=torch.float64)
    embedded = activation(x @ transform.T)
    reconstruction = embedded @ torch.linalg.pinv(transform).T
    recoverable = _active_rank(embedded, transform) == 2
    return SpiralEmbedding(dim, transform, embedded, reconstruction, recoverable)


def recover(embedded: Tensor, transform: Tensor) -> Tensor:
    """Invert ``ReLU(T x)`` where it can be inverted: least squares on the active rows.

    ``embedded`` is ``(P, n)``, ``transform`` is ``(n, 2)``; returns ``(P, 2)`` with NaN rows
    where fewer than two independent rows are active (the point's position was lost).
    """
    if embedded.dim() != 2 or transform.dim() != 2 or transform.shape[1] != 2 or (
        embedded.shape[1] != transform.shape[0]
    ):
        raise ValueError(
            f"recover: expected embedded (P, n) and transform (n, 2), got "
            f"{tuple(embedded.shape)} and {tuple(transform.shape)}"
        )
    embedded = embedded.to(torch.float64)
    transform = transform.to(torch.float64)
    out = torch.full((embedded.shape[0], 2), float("nan"), dtype=torch.float64)
    rank = _active_rank(embedded, transform)
    for p in torch.nonzero(rank == 2).flatten().tolist():
        rows = embedded[p] > 0
        sol = torch.linalg.lstsq(transform[rows], embedded[p, rows, None]).solution
        out[p] = sol[:, 0]
    return out


def spiral_experiment(
    dims: Sequence[int] = PAPER_DIMS, num_points: int = 800, seed: int = 0
) -> tuple[Tensor, dict[int, SpiralEmbedding]]:
    """MobileNetV2 Figure 1: the spiral and its ReLU round trip for each ``n`` in ``dims``.

    Taught in chapter 2 (book/02_inverted_residuals.ipynb).
    """
    points = spiral(num_points)
    gen = torch.Generator().manual_seed(seed)
    return points, {n: relu_roundtrip(points, n, generator=gen) for n in dims}


def collapse_statistics(
    dims: Sequence[int] = PAPER_DIMS, trials: int = 200, num_points: int = 400, seed: int = 0
) -> dict[int, float]:
    """Mean collapsed fraction of the spiral over ``trials`` random matrices ``T`` per ``n``
    (all trials of one ``n`` computed as one batch)."""
    check_int("collapse_statistics", "trials", trials)
    points = spiral(num_points)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for n in dims:
        _check_dim("collapse_statistics", n)
        transforms = torch.randn(trials, n, 2, generator=gen, dtype=torch.float64)
        embedded = torch.relu(points @ transforms.transpose(1, 2))  # (trials, P, n)
        recoverable = _active_rank(embedded, transforms) == 2
        out[n] = 1.0 - float(recoverable.double().mean())
    return out
