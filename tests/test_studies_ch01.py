"""Chapter 1's numbers (mbcourse.studies.ch01): the counts against the modules, the
flop counter and the formulas; the verdict sentence for every outcome; the figures against the
figure policy; the chapter's own solution against its checker."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from chapter_facts import book_style, figure_problems, solution_results

from mbcourse import costs
from mbcourse.blocks import ConvNormAct, DepthwiseSeparableConv
from mbcourse.exercises import checkers
from mbcourse.measure import count_flops, count_parameters
from mbcourse.studies import ch01
from mbcourse.studies.ch01 import SpeedupRow, Speedups

C_IN, C_OUT, K, SIZE = ch01.EXAMPLE


@pytest.fixture(scope="module")
def facts() -> ch01.Ch1Facts:
    return ch01.facts()


def test_the_example_is_the_chapters_32_to_64_layer() -> None:
    assert ch01.EXAMPLE == (32, 64, 3, 56)


def test_counts_equal_the_modules_and_the_flop_counter(facts: ch01.Ch1Facts) -> None:
    standard, separable = ConvNormAct(C_IN, C_OUT, K), DepthwiseSeparableConv(C_IN, C_OUT, K)
    shape = (1, C_IN, SIZE, SIZE)
    assert facts.standard_params == count_parameters(standard) == 18_560
    assert facts.separable_params == count_parameters(separable) == 2_528
    assert facts.standard_macs == count_flops(standard, shape).macs == 57_802_752
    assert facts.separable_macs == count_flops(separable, shape).macs == 7_325_696
    # conv weights: C_out C_in k² against C_in k² + C_in C_out (MobileNet, Sec. 3.1)
    assert facts.standard_weights == C_OUT * C_IN * K * K
    assert (facts.dw_weights, facts.pw_weights) == (C_IN * K * K, C_IN * C_OUT)
    assert facts.separable_weights == facts.dw_weights + facts.pw_weights


def test_weight_shapes_are_the_ones_the_chapter_prints(facts: ch01.Ch1Facts) -> None:
    assert facts.standard_shape == "(64, 32, 3, 3)"
    assert facts.dw_shape == "(32, 1, 3, 3)"
    assert facts.pw_shape == "(64, 32, 1, 1)"
    assert facts.groups == C_IN


def test_the_saving_identity_holds_on_the_whole_grid(facts: ch01.Ch1Facts) -> None:
    assert facts.grid_size == len(ch01.IDENTITY_GRID) == 192
    assert facts.checked == facts.grid_size  # the text says "all ... shapes"
    assert Fraction(facts.separable_macs, facts.standard_macs) == Fraction(1, 64) + Fraction(1, 9)
    assert math.isclose(facts.speedup_macs, 1 / facts.ratio)
    # MobileNet: "between 8 to 9 times less computation" for 3×3 (tends to 9 as C grows)
    assert 7.5 < facts.speedup_macs < 9
    wide = costs.depthwise_separable(128, 128, 3, 28).macs / costs.standard_conv(128, 128, 3,
                                                                                 28).macs
    assert facts.excess_128 == round(100 * (9 * wide - 1)) == 7  # 1/128 + 1/9 over 1/9


def test_intensities_per_element_are_four_times_chapter_5s_per_byte(
    facts: ch01.Ch1Facts,
) -> None:
    rows = {row.name: row for row in ch01.intensity_rows(128, 56)}
    for row in rows.values():
        assert math.isclose(row.per_byte * 4, row.per_element)
        assert row.activations == 2 * 128 * 56 * 56  # stride 1: input and output alike
    dw = rows["depthwise 3×3"]
    assert dw.per_activation == 9 / 2  # k² per output value, one read and one write
    assert dw.weights == 128 * 9 and rows["standard 3×3"].weights == 128 * 128 * 9
    assert facts.int_dw_act == 4.5 and facts.int_dw < 4.5 < facts.int_pw < facts.int_std
    assert math.isclose(facts.int_dw_byte, costs.arithmetic_intensity(128, 128, 3, 56,
                                                                      groups=128))
    assert math.isclose(facts.int_std_byte, facts.int_std / 4)


def _speedups(*rows: tuple[int, float, float, float]) -> Speedups:
    """A study from (width, measured speed-up, predicted, spread) rows."""
    return Speedups(
        tuple(SpeedupRow(w, 1.0 * m, 1.0, m, p, s) for w, m, p, s in rows),
        "CPU (x86_64, 1 thread), torch 2.14.1", "PyTorch eager", 1, 56,
    )


@pytest.mark.parametrize(
    ("rows", "says", "never"),
    [
        pytest.param([(32, 2.0, 7.0, 0.05), (256, 5.1, 8.7, 0.03)],
                     ["5.10 times faster", "8.70", "realised 59 %", "too, it fell short"],
                     ["slower", "same time"], id="faster"),
        pytest.param([(32, 1.02, 7.0, 0.1), (256, 1.04, 8.7, 0.1)],
                     ["same time within the spread", "10 %", "within the timing noise"],
                     ["realised", "faster where"], id="within-noise"),
        pytest.param([(256, 0.5, 8.7, 0.05)], ["2.00 times slower", "8.70 times faster"],
                     ["realised", "narrower"], id="slower"),
        pytest.param([(32, 1.02, 7.0, 0.1), (64, 3.0, 7.9, 0.1), (128, 9.0, 8.4, 0.05),
                      (256, 5.0, 8.7, 0.05)],
                     ["Of the 3 narrower widths, 1 fell short of the prediction, 1 was within "
                      "the timing noise (C = 32) and 1 matched or beat the prediction."],
                     ["too"], id="mixed"),
        pytest.param([(32, 8.0, 7.0, 0.05), (256, 5.0, 8.7, 0.05)],
                     ["At C = 32 the measured speed-up matched or beat the prediction."],
                     ["too"], id="one-narrower"),
    ],
)
def test_the_verdict_sentence_reads_for_every_outcome(rows, says, never) -> None:
    sentence = ch01.speedup_sentence(_speedups(*rows))
    assert sentence.startswith("On CPU (x86_64, 1 thread), torch 2.14.1 (PyTorch eager, batch 1)")
    for text in says:
        assert text in sentence, sentence
    for text in never:
        assert text not in sentence, sentence
    assert "*" not in sentence  # glued as plain text
    assert sentence.endswith(".")


def test_a_tiny_timing_study_and_its_facts() -> None:
    study = ch01.measure_speedups((8,), batch=1, rounds=1, threads=1, device="cpu", size=8,
                               min_run_time=0.001)
    [row] = study.rows
    assert row.width == 8 and row.standard_ms > 0 and row.separable_ms > 0
    assert math.isclose(row.measured, row.standard_ms / row.separable_ms)
    assert math.isclose(row.predicted, costs.standard_conv(8, 8, 3, 8).macs
                        / costs.depthwise_separable(8, 8, 3, 8).macs)
    assert study.device.startswith("CPU (") and "1 thread)" in study.device
    f = ch01.speedup_facts(study)
    assert (f.bench_c, f.bench_batch, f.device) == (8, 1, study.device)
    assert f.bench_share == round(100 * row.measured / row.predicted)
    assert f.bench_sentence == ch01.speedup_sentence(study)


def test_setting_label_names_one_thread_count() -> None:
    label = ch01.setting_label("cpu", 1)
    assert "1 thread)" in label and "threads" not in label
    assert f"{torch.get_num_threads()} thread" in ch01.setting_label("cpu", None)


def test_measure_speedups_rejects_bad_widths() -> None:
    with pytest.raises(ValueError, match="measure_speedups: widths"):
        ch01.measure_speedups((), batch=1, rounds=1, threads=1, device="cpu")
    with pytest.raises(ValueError, match="measure_speedups: widths"):
        ch01.measure_speedups((0,), batch=1, rounds=1, threads=1, device="cpu")


@book_style()
def test_figures_meet_the_figure_policy() -> None:
    standard, separable = ConvNormAct(C_IN, C_OUT, K), DepthwiseSeparableConv(C_IN, C_OUT, K)
    assert figure_problems(ch01.plot_kernels(standard.conv, separable.depthwise.conv,
                                             separable.pointwise.conv)) == []
    assert figure_problems(ch01.plot_saving()) == []
    study = _speedups((32, 1.02, 7.0, 0.1), (256, 5.1, 8.7, 0.03))
    fig = ch01.plot_speedups(study)
    labels = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert "within noise" in labels and sum("thread" in t for t in labels) == 1
    assert figure_problems(fig) == []
    # bar_compare's and draw_block's own labels belong to mbcourse.viz: width only here
    assert figure_problems(ch01.plot_costs(), check_text=False) == []


def test_plot_kernels_draws_a_depthwise_conv_only_as_one() -> None:
    pointwise = torch.nn.Conv2d(32, 64, 1)
    with pytest.raises(ValueError, match="plot_kernels: depthwise must have groups"):
        ch01.plot_kernels(torch.nn.Conv2d(32, 64, 3), pointwise, pointwise)
    with pytest.raises(TypeError, match=r"plot_kernels: standard must be an nn\.Conv2d"):
        ch01.plot_kernels(ConvNormAct(32, 64, 3), pointwise, pointwise)


def test_the_chapters_solution_passes_its_checker() -> None:
    result = solution_results("01_cost_of_convolution", "ch01-031", {"checkers": checkers})
    assert result.passed
