"""Chapter 2's numbers (mbcourse.studies.ch02) against MobileNetV2's paper (Tables 1-3, the
spiral of Figure 1, the width family), torchvision's count and the package's own modules; the
memory figure against the figure policy; the chapter's solutions against their checkers."""

from __future__ import annotations

import math

import pytest
import torch
from chapter_facts import book_style, figure_problems, solution_results
from torch import nn

from mbcourse import costs
from mbcourse.blocks import InvertedResidual
from mbcourse.exercises import checkers
from mbcourse.measure import activation_memory, count_parameters
from mbcourse.models import mobilenet_v2
from mbcourse.studies import ch02, manifold
from mbcourse.viz import trace_block

# MobileNetV2, Table 2: (t, c, n, s) of the bottleneck rows
TABLE_2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]


@pytest.fixture(scope="module")
def memory():
    return activation_memory(mobilenet_v2(), 224, device="meta")


@pytest.fixture(scope="module")
def facts(memory) -> ch02.Ch2Facts:
    return ch02.facts(memory=memory)


def test_table_2_counts(facts: ch02.Ch2Facts) -> None:
    assert facts.n_rows == len(TABLE_2)
    assert facts.n_blocks == sum(n for _, _, n, _ in TABLE_2) == 17
    assert facts.n_residual == sum(n - 1 for _, _, n, _ in TABLE_2) == 10
    # "With the exception of the first layer, we use constant expansion rate": t = 1, then 6
    assert (facts.first_t, facts.first_c) == (1, 16)
    assert facts.t6_rows == 6 and facts.t6_blocks == 16


def test_the_blocks_shapes_are_table_1s(facts: ch02.Ch2Facts) -> None:
    down = InvertedResidual(24, 32, stride=2, expand_ratio=6)
    table1 = ch02.table1_shapes((1, 24, 56, 56), expand_ratio=6, out_channels=32, stride=2)
    assert [s.out_shape for s in trace_block(down, (1, 24, 56, 56)).stages] == table1
    assert table1 == [(1, 144, 56, 56), (1, 144, 28, 28), (1, 32, 28, 28)]
    assert facts.hidden == down.expanded_channels == 144
    assert (facts.expanded_shape, facts.out_shape) == ("1×144×56×56", "1×32×28×28")
    with pytest.raises(ValueError, match="table1_shapes: input_shape"):
        ch02.table1_shapes((24, 56, 56), expand_ratio=6, out_channels=32, stride=2)


def test_the_block_cost_is_the_papers_formula(facts: ch02.Ch2Facts) -> None:
    h = w = 56
    d1 = d2 = 24
    assert facts.keep_macs == h * w * d1 * 6 * (d1 + 3**2 + d2)  # h w d' t (d' + k² + d'')
    assert facts.keep_params == count_parameters(InvertedResidual(24, 24, 1, 6))
    depthwise = costs.conv(144, 144, 3, 56, groups=144).macs
    assert facts.keep_pw_share == round(100 * (facts.keep_macs - depthwise) / facts.keep_macs)


def test_the_spiral_loses_what_the_text_argues(facts: ch02.Ch2Facts) -> None:
    # n = 2: both rows active in a wedge of angle pi - theta, a quarter of the plane on average
    assert abs(facts.lost_2 - 75) < 3
    # n = 3: x or -x has two active rows, never both: exactly half of all directions
    assert abs(facts.lost_3 - 50) < 1
    assert facts.lost_2 > facts.lost_3 > facts.lost_5 > facts.lost_15 >= facts.lost_30 == 0
    assert facts.trials == ch02.COLLAPSE["trials"]


def test_the_figure_draws_half_size_and_loses_nothing_at_large_n(facts: ch02.Ch2Facts) -> None:
    assert 40 <= facts.drawn_15 <= 62 and 40 <= facts.drawn_30 <= 62  # T⁺ ReLU(Tx) ≈ x/2
    assert facts.recover_error < 1e-12
    points, runs = manifold.spiral_experiment(manifold.PAPER_DIMS, **ch02.SPIRAL)
    readout = ch02.spiral_readout(points, runs)
    assert readout[15].lost == readout[30].lost == 0
    assert round(100 * readout[15].size) == facts.drawn_15
    # the drawing is far from the points, the recovery is not: distortion, not loss
    assert runs[15].reconstruction_error(points) > 0.3 > readout[15].recovered_error


def test_memory_against_table_3(facts: ch02.Ch2Facts, memory) -> None:
    rows = {r.resolution: r for r in ch02.largest_tensors(memory)}
    assert sorted(rows) == [7, 14, 28, 56, 112]
    for res, (channels, kb) in ch02.PAPER_TABLE3.items():
        assert abs(channels * res * res * ch02.FP16 / 1000 - kb) < 1  # the bytes follow
        assert (rows[res].paper_channels, rows[res].paper_kb) == (channels, kb)
    assert rows[7].bottleneck_channels == 320 and abs(rows[7].bottleneck_kb - 32) < 1
    assert rows[112].paper_kb is None  # the paper prints 1/O(1) there
    assert (facts.b112, facts.b56, facts.b28, facts.b14) == (32, 24, 32, 96)
    assert facts.e112 == 16 * 6 and facts.e112_kb == round(96 * 112 * 112 * 2 / 1000)
    assert facts.mem_expanded == round(96 * 112 * 112 * 2 / 1e6, 2)
    assert facts.mem_peak > facts.mem_expanded > facts.mem_streaming
    assert math.isclose(facts.mem_ratio, round(memory.peak_bytes / memory.streaming_bytes, 1))


def test_facts_refuse_another_networks_memory() -> None:
    small = activation_memory(mobilenet_v2(), 96, device="meta")
    with pytest.raises(ValueError, match=r"studies\.ch02\.facts: memory must be MobileNetV2's"):
        ch02.facts(memory=small)


def test_width_family_against_torchvision_and_the_paper(facts: ch02.Ch2Facts) -> None:
    family = {m.width: m for m in ch02.width_family()}
    assert family[1.0].params == 3_504_872  # torchvision's documented count
    assert round(family[1.0].macs[224] / 1e6) == 301  # torchvision's 0.301 GFLOPS (MACs)
    assert facts.w035_params_m == 1.68  # the paper: "between 1.7M and 6.9M parameters"
    assert abs(facts.w14_r224_macs_m - 585) / 585 < 0.01  # the paper: "to 585M MAdds"
    assert (224 / 96) ** 2 * 0.95 < facts.res_ratio < (224 / 96) ** 2


@book_style()
def test_the_memory_figure() -> None:
    fig = ch02.plot_memory(ch02.largest_tensors(activation_memory(mobilenet_v2(), 224,
                                                                  device="meta")))
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert "paper:\n1/O(1)" in texts  # the 112×112 group says why it has no paper bar
    assert "2408" in texts and not any("2,408" in t or "2.4" in t for t in texts)
    assert figure_problems(fig, check_text=False) == []  # bar labels: mbcourse.viz's


def test_the_chapters_solutions_pass_their_checkers() -> None:
    namespace = {"checkers": checkers, "nn": nn, "torch": torch}
    assert solution_results("02_inverted_residuals", "ch02-036", namespace).passed
    assert solution_results("02_inverted_residuals", "ch02-040", namespace).passed
