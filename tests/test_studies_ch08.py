"""mbcourse.studies.ch08: chapter 8's numbers (EfficientNetV2's Table 3, the V100 data sheet, the
package's counts), its verdict and regime sentences for every outcome, and its figures."""

from __future__ import annotations

import dataclasses
import json

import matplotlib
import matplotlib.pyplot as plt
import pytest
from IPython.display import Markdown
from matplotlib.text import Text

from mbcourse import costs
from mbcourse.display import FIGURE_TEXT_PT, FIGURE_WIDTH_IN
from mbcourse.studies import ch08
from mbcourse.studies.verdicts import Setting

SETTING = Setting("AMD EPYC CPU", "PyTorch 2 eager", batch=1, threads=1, precision="float32",
                  layout="channels-last")


def test_table3_as_published() -> None:
    # Tan & Le 2021, EfficientNetV2, Table 3 (EfficientNet-B4 with Fused-MBConv)
    assert ch08.TABLE3["no fused stage"] == (19.3, 4.5, 82.8, 262, 155)
    assert ch08.TABLE3["fused stages 1-3"] == (20.0, 7.5, 83.1, 362, 216)
    assert ch08.TABLE3["fused stages 1-7"] == (132.0, 34.4, 81.7, 254, 206)
    facts = ch08.facts()
    assert (facts.t3_flops_none, facts.t3_flops_early) == (4.5, 7.5)
    assert (facts.t3_v100_none, facts.t3_v100_early, facts.t3_v100_all) == (155, 216, 206)
    table = ch08.table3().data.splitlines()
    assert len(table) == 2 + len(ch08.TABLE3) and "| fused stages 1-3 | 20 | 7.5 |" in table[3]


def test_counted_ratios_and_intensities() -> None:
    facts = ch08.facts()
    mb = costs.mbconv(256, 256, 1, expand_ratio=4, se_ratio=0.0).macs
    assert facts.mac_ratio_256 == round(costs.fused_mbconv(256, 256, 1, expand_ratio=4).macs
                                        / mb, 1)
    assert 3.5 < facts.mac_ratio_16 < facts.mac_ratio_256 < 5
    # depthwise 3x3 on 128 x 56 x 56, float32: 9 MACs per output, input + output + weights moved
    hw, ce = 56 * 56, 128
    assert facts.int_dw == round(9 * ce * hw / (4 * (2 * ce * hw + 9 * ce)), 2)
    assert facts.int_fused == round(ch08.intensities()["3×3 fused      C → eC"], 1) > 40


def test_v100_ridge_points_from_the_data_sheet() -> None:
    facts = ch08.facts()
    assert (facts.v100_fp32_tflops, facts.v100_tensor_tflops, facts.v100_gbytes) == (15.7, 125,
                                                                                      900)
    assert facts.v100_ridge == round(15.7e12 / 2 / 900e9, 1) == 8.7
    assert facts.v100_tensor_ridge == round(125e12 / 2 / 900e9) == 69


@pytest.mark.parametrize(("ridge", "words"), [
    (5.0, "lies between the two"), (0.5, "below even the depthwise"), (100.0, "above both"),
])
def test_ridge_verdict_for_every_case(ridge: float, words: str) -> None:
    peaks = {"gmacs": 10.0 * ridge, "gbytes": 10.0, "ridge": ridge}
    facts = ch08.ridge_facts(peaks, SETTING)
    assert words in facts.ridge_verdict and "batch" not in facts.ridge_verdict
    assert "1 thread" in facts.ridge_verdict
    assert facts.v100_vs_here == round(15.7e12 / 2 / 900e9 / ridge, 1)
    assert isinstance(facts.for_glue()["ridge_verdict"], Markdown)


def _row(width: int, resolution: int, ratio: float, spread: float = 0.05) -> dict:
    macs = 9 * width * width * resolution**2  # any count: the sentence compares rows
    return {"width": width, "resolution": resolution, "ratio": ratio, "spread": spread,
            "mac_ratio": 4.0, "mbconv_ms": 0.5, "fused_ms": 0.5 * ratio, "mbconv_macs": macs,
            "fused_macs": 4 * macs, "batch_size": 1}


PEAKS = {"gmacs": 10.0, "gbytes": 8.0, "ridge": 1.25}


@pytest.mark.parametrize(("rows", "words"), [
    ([_row(16, 7, 0.5), _row(64, 28, 1.0, 0.1)], "Every setting where fusing paid here (1)"),
    ([_row(16, 7, 0.5), _row(64, 28, 0.5)], "Of the 2 settings where fusing paid here, 1"),
    ([_row(16, 7, 1.01), _row(64, 28, 2.0)], "Fusing paid in none"),
    ([_row(64, 28, 0.5)], "This sweep has no narrow block on a small map."),
])
def test_regime_and_fusion_facts_for_every_outcome(rows: list, words: str) -> None:
    facts = ch08.fusion_facts(rows, PEAKS, SETTING)
    assert words in facts.regime
    assert facts.n_cells == len(rows)
    assert facts.n_faster == sum(r["ratio"] == 0.5 for r in rows)
    assert "AMD EPYC CPU" in facts.fusion_verdict and "batch 1" in facts.fusion_verdict
    data = json.loads(facts.fusion_data)
    assert data["setting"] == SETTING.as_dict() and data["rows"] == rows
    glued = facts.for_glue()
    assert set(glued) == {f.name for f in dataclasses.fields(facts)}
    assert isinstance(glued["regime"], Markdown) and isinstance(glued["n_cells"], int)


def _optimizations() -> list[dict]:
    rows = []
    for model, channels_last in (("mobilenet_v2", 1.3), ("efficientnet_b0", 1.01)):
        for variant, speedup in (("eager", 1.0), ("channels_last", channels_last),
                                 ("bn_folded", 1.2)):
            rows.append({"model": model, "variant": variant, "speedup": speedup,
                         "spread": 0.05, "median_ms": 10.0 / speedup})
    return rows


def test_speedup_facts_and_table_count_the_noise() -> None:
    rows = _optimizations()
    facts = ch08.speedup_facts(rows, SETTING)
    assert facts.n_speedups == 4 and facts.n_speedup_noise == 1
    lines = facts.speedup_verdicts.splitlines()
    assert len(lines) == 2 and all(line.startswith("* On AMD EPYC CPU") for line in lines)
    assert "MobileNetV2" in lines[0] and "EfficientNet-B0: " not in lines[0]  # noise: not quoted
    assert json.loads(facts.speedup_data)["rows"] == rows
    table = ch08.optimizations_table(rows).data
    assert table.count("within noise") == 1 and table.count("(reference)") == 2


def test_setting_title_names_the_threads_once() -> None:
    assert ch08.setting_title(SETTING) == "AMD EPYC CPU, 1 thread, batch 1"
    gpu = Setting("NVIDIA H100", "PyTorch 2 eager", batch=32)
    assert ch08.setting_title(gpu) == "NVIDIA H100, batch 32"


def test_show_gpu_results_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list = []
    monkeypatch.setattr(ch08, "display", shown.append)
    ch08.show_gpu_results(None)
    assert len(shown) == 1 and "No GPU measurements are stored" in shown[0].data
    assert shown[0].data.rstrip().endswith("top of the chapter.")


def assert_book_figure(fig) -> None:
    """Within the column (tight box, as the notebook's SVG), no text under 12 pt, and tick
    labels written as plain numbers."""
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    assert box.width <= FIGURE_WIDTH_IN + 0.01, f"{box.width:.2f} in wide"
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < FIGURE_TEXT_PT]
    assert not small, small
    assert not [t.get_text() for t in texts if "times10" in t.get_text().replace(" ", "")]


@pytest.fixture(autouse=True)
def _book_style():
    with matplotlib.rc_context({"font.size": FIGURE_TEXT_PT}):
        yield
    plt.close("all")


def test_fusion_grids_meet_the_policy() -> None:
    rows = [_row(w, r, 0.8 if w == 16 else 1.5) for w in (16, 32, 64) for r in (7, 14, 28)]
    fig = ch08.plot_fusion_grids(rows, SETTING)
    assert_book_figure(fig)
    assert "1 thread" in fig.axes[0].get_title() and "2 threads" not in fig.axes[0].get_title()


def test_speedup_figure_meets_the_policy_and_its_legend_covers_no_bar() -> None:
    fig = ch08.plot_optimizations(_optimizations(), SETTING)
    assert_book_figure(fig)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    bars = [p.get_window_extent(renderer) for p in ax.patches if p.get_height() > 0]
    assert bars and not any(legend.overlaps(bar) for bar in bars)


def test_show_gpu_results_of_a_stored_file(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list = []
    monkeypatch.setattr(ch08, "display", shown.append)
    rows = [_row(w, r, 0.8 if w == 16 else 1.5) for w in (16, 32) for r in (56, 112)]
    steps = [{"stage": 1, "channels": 24, "resolution": 150, "ratio": 0.5, "spread": 0.02,
              "precision": "float32", "layout": "channels_last"}]
    gpu = {"device": "NVIDIA H100", "torch": "2.14.1", "date": "2026-12-07", "cuda": "13.0",
           "cudnn": 91000, "fusion_sweep": {"batch_size": 32, "dtype": "bfloat16", "rows": rows},
           "optimizations": _optimizations(), "train_steps": {"batch_size": 32, "rows": steps}}
    ch08.show_gpu_results(gpu)
    texts = [s.data for s in shown if isinstance(s, Markdown)]
    figures = [s for s in shown if not isinstance(s, Markdown)]
    assert len(figures) == 2 and texts[0].startswith("Measured on **NVIDIA H100**")
    assert texts[1].startswith("On NVIDIA H100, PyTorch 2.14.1 eager, batch 32")
    assert "stage 1 (24 channels at 150×150)" in texts[2] and "batch 32" in texts[2]
