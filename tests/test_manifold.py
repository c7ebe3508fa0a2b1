"""The MobileNetV2 Figure 1 experiment: ReLU on a 2-D spiral embedded in n dimensions."""

from __future__ import annotations

import pytest
import torch

from mbcourse.studies import manifold


def test_spiral_shape_and_radius() -> None:
    pts = manifold.spiral(100, turns=3)
    assert pts.shape == (100, 2)
    radius = pts.norm(dim=1)
    assert radius[0] == pytest.approx(0.1) and radius[-1] == pytest.approx(1.0)
    assert torch.all(radius[1:] > radius[:-1])


def test_without_relu_the_pseudo_inverse_recovers_every_point() -> None:
    pts = manifold.spiral(200)
    gen = torch.Generator().manual_seed(1)
    for n in (2, 5, 30):
        r = manifold.relu_roundtrip(pts, n, generator=gen, activation=lambda t: t)
        assert r.transform.shape == (n, 2) and r.embedded.shape == (200, n)
        torch.testing.assert_close(r.reconstruction, pts)
        assert r.reconstruction_error(pts) < 1e-10


def test_relu_roundtrip_is_pinv_of_relu() -> None:
    pts = manifold.spiral(64)
    r = manifold.relu_roundtrip(pts, 5, generator=torch.Generator().manual_seed(0))
    expected = torch.relu(pts @ r.transform.T) @ torch.linalg.pinv(r.transform).T
    torch.testing.assert_close(r.reconstruction, expected)


@pytest.mark.parametrize("n", [2, 3, 5, 15])
def test_recoverable_points_are_exactly_recovered_and_others_are_not(n: int) -> None:
    pts = manifold.spiral(300)
    r = manifold.relu_roundtrip(pts, n, generator=torch.Generator().manual_seed(n))
    rec = manifold.recover(r.embedded, r.transform)
    ok = r.recoverable
    torch.testing.assert_close(rec[ok], pts[ok])
    assert torch.isnan(rec[~ok]).all()
    # a lost point has fewer than two active rows (two generic rows always span the plane)
    active = (r.embedded[~ok] > 0).sum(dim=1)
    assert torch.all(active < 2)


def test_a_lost_point_shares_its_output_with_another_point() -> None:
    # One active row: moving along the kernel of that row, inside the inactive half-planes,
    # leaves ReLU(T x) unchanged; so x cannot be recovered.
    transform = torch.tensor([[1.0, 0.0], [-1.0, -1.0]], dtype=torch.float64)
    x = torch.tensor([[0.5, 0.2]], dtype=torch.float64)  # row 0 active, row 1 inactive
    y = torch.tensor([[0.5, 0.4]], dtype=torch.float64)
    assert torch.equal(torch.relu(x @ transform.T), torch.relu(y @ transform.T))
    assert torch.isnan(manifold.recover(torch.relu(x @ transform.T), transform)).all()


def test_collapse_shrinks_with_dimension_as_in_the_paper() -> None:
    stats = manifold.collapse_statistics(trials=60, num_points=200, seed=0)
    fractions = [stats[n] for n in manifold.PAPER_DIMS]
    assert fractions == sorted(fractions, reverse=True)
    assert 0.6 < stats[2] < 0.9  # about 3/4 of the plane has a row of T inactive
    assert stats[3] == pytest.approx(0.5, abs=0.02)  # x or -x has two active rows
    assert stats[30] < 0.005


def test_spiral_experiment_runs_the_paper_dimensions() -> None:
    pts, runs = manifold.spiral_experiment(num_points=120, seed=3)
    assert list(runs) == [2, 3, 5, 15, 30]
    assert all(r.reconstruction.shape == pts.shape for r in runs.values())
    again = manifold.spiral_experiment(num_points=120, seed=3)[1]
    assert all(torch.equal(runs[n].transform, again[n].transform) for n in runs)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="relu_roundtrip: dim must be an integer >= 2"):
        manifold.relu_roundtrip(manifold.spiral(10), 1)
    with pytest.raises(ValueError, match=r"relu_roundtrip: points must be a \(P, 2\) tensor"):
        manifold.relu_roundtrip(torch.zeros(10, 3), 4)
    with pytest.raises(ValueError, match="spiral: num_points must be an integer >= 2"):
        manifold.spiral(1)
    with pytest.raises(ValueError, match="recover: expected embedded"):
        manifold.recover(torch.zeros(4, 3), torch.zeros(2, 2))


def test_batched_rank_equals_one_matrix_at_a_time() -> None:
    pts = manifold.spiral(150)
    gen = torch.Generator().manual_seed(7)
    runs = [manifold.relu_roundtrip(pts, n, generator=gen) for n in (3, 3, 3, 3)]
    transforms = torch.stack([r.transform for r in runs])
    embedded = torch.stack([r.embedded for r in runs])
    batched = manifold._active_rank(embedded, transforms) == 2
    assert torch.equal(batched, torch.stack([r.recoverable for r in runs]))
