"""mbcourse.studies.ch05: chapter 5's numbers against the modules, the published tables and
closed forms; its verdict sentences for every outcome class; its figures within the policy."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import matplotlib
import pytest

from mbcourse import costs
from mbcourse.blocks import FusedMBConv, MBConv, make_divisible
from mbcourse.display import FIGURE_WIDTH_IN
from mbcourse.exercises import checkers
from mbcourse.measure import count_parameters
from mbcourse.models import efficientnet_v2_s
from mbcourse.models.efficientnet import efficientnet_config
from mbcourse.studies import ch05
from mbcourse.studies.verdicts import FASTER, NOISE, SLOWER, Setting

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "05_fused_mbconv.ipynb"
SETTING = Setting("AMD EPYC CPU", "PyTorch 2.14.1 eager", batch=2, threads=1)
# torchvision's documented EfficientNetV2-S parameter count (efficientnet_v2_s weights card)
V2S_PARAMS = 21_458_488


@pytest.fixture(scope="module")
def facts() -> ch05.Ch05Facts:
    return ch05.facts()


def test_stage_costs_equal_the_modules() -> None:
    for sc in ch05.v2s_stage_costs():
        r = sc.row
        mb = MBConv(r.in_channels, r.out_channels, r.stride, r.expand_ratio, r.kernel,
                    se_ratio=0.0)
        fu = FusedMBConv(r.in_channels, r.out_channels, r.stride, r.expand_ratio, r.kernel)
        assert sc.mbconv_first.params == count_parameters(mb)
        assert sc.fused_first.params == count_parameters(fu)
        # the whole stage: first block + (layers - 1) repeated blocks, built as modules
        rest = FusedMBConv(r.out_channels, r.out_channels, 1, r.expand_ratio, r.kernel)
        assert sc.fused.params == count_parameters(fu) + (r.layers - 1) * count_parameters(rest)
        assert sc.fused.params > sc.mbconv.params and sc.fused.macs > sc.mbconv.macs


def test_fusing_ratio_is_the_closed_form() -> None:
    """The replaced layers' weights grow by exactly C_in k² / (C_in + k²) (C_in when e = 1)."""
    for r in efficientnet_config("efficientnet_v2_s").stages:
        mb = MBConv(r.in_channels, r.out_channels, r.stride, r.expand_ratio, r.kernel,
                    se_ratio=0.0)
        fu = FusedMBConv(r.in_channels, r.out_channels, r.stride, r.expand_ratio, r.kernel)
        k, c_in = r.kernel, r.in_channels
        expanded = mb.expanded_channels != c_in
        separate = (mb.expand.conv.weight.numel() if expanded else 0) \
            + mb.depthwise.conv.weight.numel()
        exact = Fraction(c_in * k * k, c_in + k * k) if expanded else Fraction(c_in)
        assert Fraction(fu.fused.conv.weight.numel(), separate) == exact, r.stage


def test_network_params_match_the_built_networks(facts: ch05.Ch05Facts) -> None:
    assert ch05.network_params({1, 2, 3}) == count_parameters(efficientnet_v2_s()) == V2S_PARAMS
    assert facts.v2s_params_exact == V2S_PARAMS and facts.v2s_params == 21.46
    # all MBConv: stages 1-3 as MBConv with SE 0.25 (built block by block)
    rows = efficientnet_config("efficientnet_v2_s").stages
    swapped = 0
    for r in rows[:3]:
        for i in range(r.layers):
            c_in = r.in_channels if i == 0 else r.out_channels
            stride = r.stride if i == 0 else 1
            swapped += count_parameters(MBConv(c_in, r.out_channels, stride, r.expand_ratio,
                                               r.kernel, se_ratio=0.25))
            swapped -= count_parameters(FusedMBConv(c_in, r.out_channels, stride,
                                                    r.expand_ratio, r.kernel))
    assert ch05.network_params(set()) == V2S_PARAMS + swapped
    assert facts.v2s_allmb < facts.v2s_params < facts.v2s_allfused


def test_table3_is_the_papers() -> None:
    """EfficientNetV2, Table 3 (as printed)."""
    t = ch05.TABLE3
    assert list(t) == ["no fused", "fused stages 1-3", "fused stages 1-5", "fused stages 1-7"]
    assert t["no fused"] == (19.3, 4.5, 82.8, 262, 155)
    assert t["fused stages 1-3"] == (20.0, 7.5, 83.1, 362, 216)
    assert t["fused stages 1-5"] == (43.4, 21.3, 83.1, 327, 223)
    assert t["fused stages 1-7"] == (132.0, 34.4, 81.7, 254, 206)


def test_facts_from_table3_and_the_counts(facts: ch05.Ch05Facts) -> None:
    assert (facts.t3_tpu_pct, facts.t3_v100_pct, facts.t3_flops_pct) == (38, 39, 67)
    assert facts.t3_acc_gain == 0.3 and facts.t3_full_acc_drop == 1.1
    assert facts.t3_mid_tpu_pct < 0 < facts.t3_mid_v100_pct  # slower on TPU, faster on V100
    assert facts.stage_ratio_min > 1  # fusing adds parameters and MACs in every stage
    assert facts.early_added < 1 < facts.late_added
    assert facts.v2s_fuse13_added == pytest.approx(facts.v2s_params - facts.v2s_allmb, abs=0.01)


def test_intensity_rows_bound_the_convolutions(facts: ch05.Ch05Facts) -> None:
    rows = ch05.intensity_rows()
    assert [r["stage"] for r in rows] == [1, 2, 3, 4, 5, 6]
    for r, sc in zip(rows, ch05.v2s_stage_costs(), strict=True):
        k = sc.row.kernel
        # k² MACs per output value against >= 2 float32 values (8 bytes) moved per output value
        assert r["depthwise"] < k * k / 8 < r["fused"]
        c_exp = make_divisible(sc.row.in_channels * sc.row.expand_ratio, 8)
        assert (r["expand"] is None) == (c_exp == sc.row.in_channels)
    assert facts.int_dw_max == round(max(r["depthwise"] for r in rows), 2)
    assert facts.int_fused_min == round(min(r["fused"] for r in rows))


def test_per_element_is_four_times_per_byte(facts: ch05.Ch05Facts) -> None:
    """Chapter 1's multiply-adds per element moved, over 4 bytes, is this chapter's per byte."""
    assert facts.ch1_dw_per_element == 9 / 2
    assert facts.ch1_dw_per_byte == facts.ch1_dw_per_element / 4
    exact = costs.arithmetic_intensity(128, 128, 3, 56, groups=128)
    assert exact < facts.ch1_dw_per_byte and exact == pytest.approx(facts.ch1_dw_per_byte,
                                                                   rel=0.01)


def test_v100_ridge_from_its_data_sheet(facts: ch05.Ch05Facts) -> None:
    # 15.7 TFLOPS = 7.85 T multiply-adds/s over 900 GB/s; 125 TFLOPS tensor
    assert facts.v100_fp32_ridge == 8.7 and facts.v100_tensor_ridge == 69


# --------------------------------------------------------------------------------------------
# Verdicts: every outcome class reads as prose and never contradicts the numbers
# --------------------------------------------------------------------------------------------
def _study(ratios: list[float], spread: float = 0.05,
           res_ratios: tuple[float, ...] = (1.0, 1.0, 1.0)) -> ch05.LatencyStudy:
    stages = tuple(ch05.LatencyRow(f"stage {i}", i, 24, 4, 16, 1.0, q, spread, 4.5)
                   for i, q in enumerate(ratios, 1))
    res = tuple(ch05.LatencyRow(f"{s}×{s}", 2, 48, 4, s, 1.0, q, spread, 4.57)
                for s, q in zip((16, 32, 64), res_ratios, strict=True))
    return ch05.LatencyStudy(SETTING, 128, stages, res)


PEAKS = {"gmacs": 20.0, "gbytes": 10.0, "ridge": 2.0}


@pytest.mark.parametrize(("ratios", "counts", "words"), [
    ([0.5] * 6, (6, 0, 0), "was faster than MBConv in all 6 stages"),
    ([2.0] * 6, (0, 6, 0), "was slower than MBConv in all 6 stages"),
    ([1.01] * 6, (0, 0, 6), "within the noise of their timing rounds in all 6 stages"),
    ([0.5, 2.0, 1.01, 2.0, 2.0, 2.0], (1, 4, 1), "in 1 of the 6 stages"),
    ([0.5, 0.5, 2.0, 2.0, 2.0, 2.0], (2, 4, 0), "slower in the other 4"),
    ([0.5, 1.01, 1.01, 1.01, 1.01, 1.01], (1, 0, 5), "within the noise in the other 5"),
    ([2.0, 1.01, 1.01, 2.0, 2.0, 2.0], (0, 4, 2), "in none of the 6 stages"),
])
def test_latency_verdicts_for_every_outcome(ratios, counts, words) -> None:
    lat = ch05.latency_facts(_study(ratios), PEAKS)
    assert (lat.n_faster, lat.n_slower, lat.n_noise) == counts
    assert words in lat.stage_verdict
    assert lat.stage_verdict.startswith(f"On {SETTING.phrase()}")
    for noun in ("batch 2", "1 thread", "PyTorch 2.14.1 eager", "AMD EPYC CPU"):
        assert noun in lat.stage_verdict and noun in lat.setting
    # no ratio inside the noise is ever quoted; the old self-contradiction never comes back
    assert "1.01×" not in lat.stage_verdict
    assert "in no stage" not in lat.stage_verdict
    assert not re.search(r"\b1 stages\b|\ball 1\b|\(\s*\)", lat.stage_verdict)
    # Sphinx would print an apostrophe as ’, which the Colab edition would not match
    assert "'" not in lat.stage_verdict + lat.resolution_verdict + lat.ridge_verdict


def test_resolution_verdict_names_the_block_and_setting() -> None:
    lat = ch05.latency_facts(_study([2.0] * 6, res_ratios=(1.01, 2.0, 3.0)), PEAKS)
    assert lat.resolution_verdict.startswith(f"For the block of stage 2, on {SETTING.phrase()}")
    assert "in none of the 3 resolutions" in lat.resolution_verdict
    assert "32×32: 2.00×" in lat.resolution_verdict and "1.01" not in lat.resolution_verdict


@pytest.mark.parametrize(("ridge", "words"), [
    (0.2, "below even the intensity of the depthwise"), (2.0, "between the intensities"),
    (500.0, "above the intensity of the fused"),
])
def test_ridge_sentence_for_each_place(ridge: float, words: str) -> None:
    rows = ch05.intensity_rows()
    dw_max, fused_min = max(r["depthwise"] for r in rows), min(r["fused"] for r in rows)
    assert ch05.ridge_sentence(ridge, dw_max, fused_min).startswith(words)
    lat = ch05.latency_facts(_study([2.0] * 6), {**PEAKS, "ridge": ridge})
    assert lat.ridge_verdict.startswith(words) and lat.ridge == round(ridge, 2)
    assert "'" not in lat.ridge_verdict  # Sphinx would print it as ’


def test_noise_is_the_largest_spread() -> None:
    lat = ch05.latency_facts(_study([2.0] * 6, spread=0.37), PEAKS)
    assert lat.noise == 37 and lat.mac_ratio_min == 4.5


def test_latency_rows_outcome() -> None:
    row = ch05.LatencyRow("stage 1", 1, 24, 1, 64, 2.0, 1.0, 0.1, 6.5)
    assert row.ratio == 0.5 and row.result.outcome == FASTER
    assert ch05.LatencyRow("s", 1, 24, 1, 64, 1.0, 1.05, 0.1, 6.5).result.outcome == NOISE
    assert ch05.LatencyRow("s", 1, 24, 1, 64, 1.0, 3.0, 0.1, 6.5).result.outcome == SLOWER


def test_latency_study_times_both_blocks_on_the_cpu() -> None:
    study = ch05.latency_sweep("cpu", image_size=32, batch=1, threads=1, rounds=2,
                               min_run_time=0.001)
    assert [r.stage for r in study.stages] == [1, 2, 3, 4, 5, 6]
    assert [r.resolution for r in study.resolutions] == [4, 8, 16]
    assert study.setting.batch == 1 and study.setting.threads == 1
    for r in study.stages + study.resolutions:
        assert r.mbconv_ms > 0 and r.fused_ms > 0 and r.spread >= 0
        assert r.mac_ratio == pytest.approx(
            costs.fused_mbconv(r.width, r.width, r.resolution, 1, r.expand_ratio).macs
            / costs.mbconv(r.width, r.width, r.resolution, 1, r.expand_ratio, se_ratio=0.0).macs)


# --------------------------------------------------------------------------------------------
# Figures and the notebook
# --------------------------------------------------------------------------------------------
def _texts_at_least_12pt(fig) -> None:
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_text().strip() and text.get_visible():
            assert text.get_fontsize() >= 12, (text.get_text(), text.get_fontsize())


def test_figures_fit_the_column_with_12pt_text() -> None:
    import matplotlib.pyplot as plt

    from mbcourse.display import use_book_figures

    use_book_figures()
    study = _study([0.5, 1.01, 2.0, 2.0, 2.0, 2.0], res_ratios=(1.01, 2.0, 3.0))
    fig = ch05.plot_stage_costs()  # its bar labels are viz.bar_compare's (tests/test_viz.py)
    assert fig.get_figwidth() <= FIGURE_WIDTH_IN and len(fig.axes) == 2
    plt.close(fig)
    # the latency figure names one thread count, once, and its legends lie above the axes,
    # clear of every bar and line
    fig = ch05.plot_latency(study)
    assert fig.get_figwidth() <= FIGURE_WIDTH_IN
    _texts_at_least_12pt(fig)
    fig.canvas.draw()
    title = fig._suptitle.get_text()
    assert len(re.findall(r"\bthreads?\b", title)) == 1
    for ax in fig.axes:
        legend = ax.get_legend()
        assert legend.get_window_extent().y0 >= ax.get_window_extent().y1 - 1
    plt.close(fig)


def test_the_notebook_solution_passes_its_checker() -> None:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    [source] = ["".join(c["source"]) for c in cells
                if "def fused_params_solution" in "".join(c["source"])]
    namespace = {"make_divisible": make_divisible, "checkers": checkers}
    exec(source.split("\n\n\n")[0], namespace)  # the definition, not the display call
    result = checkers.check_fused_params(namespace["fused_params_solution"], verbose=False)
    assert result.passed, result.message


def test_the_notebook_glues_the_facts_once() -> None:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    gluing = [c for c in cells if c["cell_type"] == "code"
              and re.search(r"^\s*glue(_facts)?\(", "".join(c["source"]), re.M)]
    assert len(gluing) == 1 and "remove-cell" in gluing[0]["metadata"]["tags"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    used = set(re.findall(r"\{glue:text\}`ch5_(\w+?)(?::[^`]*)?`", prose))
    fields = {f for cls in (ch05.Ch05Facts, ch05.Ch05Latency)
              for f in cls.__dataclass_fields__}
    exercises = {"ex1_answer", "ex1_mb", "ex3_shape"}  # glued by glue_solutions(5)
    assert used <= fields | exercises, used - fields - exercises
