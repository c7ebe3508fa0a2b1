"""Chapter 6's facts, tables, plots and verdicts (mbcourse.studies.ch06), against the papers,
torchvision's documented counts and the package's own measurements."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

from mbcourse import measure
from mbcourse.blocks import (
    DepthwiseSeparableConv,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
)
from mbcourse.display import FIGURE_TEXT_PT, FIGURE_WIDTH_IN, use_book_figures
from mbcourse.measure import Latency
from mbcourse.models import (
    EFFICIENTNET_B0_TABLE,
    EFFICIENTNET_V2_S_TABLE,
    efficientnet_b0,
    efficientnet_b2,
)
from mbcourse.studies import ch06

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "06_whole_networks.ipynb"


@pytest.fixture(scope="module")
def facts() -> ch06.Ch6Facts:
    return ch06.facts()


# ---- the record and the chapter ------------------------------------------------------------


def _glue_references() -> set[str]:
    nb = json.loads(CHAPTER.read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return {name.split(":")[0] for name in re.findall(r"\{glue(?::\w+)?\}`([^`]+)`", text)}


def test_every_number_of_the_prose_has_a_field() -> None:
    fields = {f"ch6_{f.name}" for cls in (ch06.Ch6Facts, ch06.FoldFacts)
              for f in dataclasses.fields(cls)}
    solutions = {"ch6_ex_head_macs", "ch6_ex_kb", "ch6_ex_shape"}  # glue_solutions(6)
    missing = _glue_references() - fields - solutions
    assert not missing, f"the prose prints names no record provides: {sorted(missing)}"


def test_the_chapter_glues_in_one_hidden_cell() -> None:
    nb = json.loads(CHAPTER.read_text(encoding="utf-8"))
    gluing = [c for c in nb["cells"] if c["cell_type"] == "code"
              and re.search(r"^\s*glue(_facts)?\(", "".join(c["source"]), re.MULTILINE)]
    assert len(gluing) == 1
    assert "remove-cell" in gluing[0]["metadata"].get("tags", [])


# ---- parameters and multiply-adds against torchvision and the papers -----------------------


def test_parameters_are_torchvisions_and_only_b0_rounds_to_its_paper(facts) -> None:
    assert (facts.params_mnv2, facts.params_b0, facts.params_v2s) == (
        3_504_872, 5_288_548, 21_458_488)
    assert facts.params_b0_m == 5.3  # EfficientNet's Table 2
    assert facts.params_mnv2_m != 3.4  # MobileNetV2's Table 4
    assert round(facts.params_v2s / 1e6) != 22  # EfficientNetV2's 22M


def test_multiply_adds_are_torchvisions_gflops(facts) -> None:
    for key, published in (("mnv2", 0.301), ("b0", 0.386), ("s", 8.366)):
        gmacs = getattr(facts, f"gmacs_{key}")
        assert abs(gmacs / published - 1) < 0.002  # torchvision rounds to three decimals
        assert getattr(facts, f"vs_tv_{key}") < 0.2
    assert facts.flops_mnv2_g == pytest.approx(2 * facts.gmacs_mnv2, abs=1e-3)
    assert facts.gmacs_s < 8.8 and facts.vs_paper_s < 0  # "below the published 8.8B"
    assert facts.abs_paper_mnv2 < 1 and facts.abs_paper_b0 < 2


def test_the_elementwise_operations_do_not_explain_v2s_gap(facts) -> None:
    assert facts.v2s_elementwise_gap < 50  # "do not fit"
    assert facts.v2s_equiv_res not in (300, 384)  # "no resolution the paper uses"


def test_elementwise_outputs_counts_what_it_says() -> None:
    net = efficientnet_b0(num_classes=10, width_mult=0.25, depth_mult=0.25, stages=3)
    kinds = (nn.BatchNorm2d, nn.SiLU, nn.Sigmoid, SqueezeExcitation)
    counted: list[int] = []
    watched = [m for m in net.modules() if isinstance(m, kinds)
               or (isinstance(m, MBConv | FusedMBConv) and m.use_residual)]
    hooks = [m.register_forward_hook(lambda m, i, o: counted.append(o.numel())) for m in watched]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    assert ch06.elementwise_outputs(net, 32) == sum(counted) > 0
    assert next(net.parameters()).device.type == "cpu"  # counted on a copy


def test_where_parameters_and_compute_sit(facts) -> None:
    assert facts.mnv2_late_share > 50 > facts.mnv2_early_share  # "the parameters live at the end"
    assert facts.b0_late_params > facts.b0_late_macs
    assert facts.b0_first3_macs > facts.b0_first3_params
    assert facts.v2s_fused_macs > 50 > facts.v2s_fused_params


# ---- compound scaling ----------------------------------------------------------------------


def test_closed_form_multiply_adds_equal_flopcountermode() -> None:
    rows = {r.model: r for r in ch06.compound_scaling()}
    assert rows["B0"].macs == measure.count_flops(efficientnet_b0(), 224, device="meta").macs
    with torch.device("meta"):
        b2 = efficientnet_b2()
    assert rows["B2"].macs == measure.count_flops(b2, 260, device="meta").macs
    assert rows["B0"].params == 5_288_548


def test_compound_scaling_beside_the_paper(facts) -> None:
    rows = ch06.compound_scaling()
    assert [r.resolution for r in rows] == [224, 240, 260, 300, 380, 456, 528, 600]
    for row in rows:  # parameters agree with Table 2 to its rounding
        assert abs(row.params / 1e6 - row.paper_params_m) <= 0.06 * row.paper_params_m
    assert facts.cs_product == pytest.approx(1.2 * 1.1**2 * 1.15**2, abs=0.005)
    assert facts.cs_close_max <= 3
    assert facts.cs_off == "B4 (+4.6 %) and B5 (+3.7 %)"
    assert facts.cs_b7_ratio == round(rows[-1].macs / rows[0].macs)


def test_scaling_table_prints_the_papers_figures() -> None:
    table = ch06.scaling_table(ch06.compound_scaling()).data
    assert "| B1 | 1.0 | 1.1 | 240 | 7.8M | 7.8M | 0.69B | 0.70B |" in table
    assert "| B2 | 1.1 | 1.2 | 260 | 9.1M | 9.2M | 0.99B | 1.0B |" in table
    assert table.splitlines()[0].count("|") - 1 <= 8  # narrow enough to read on a phone


# ---- what EfficientNetV2 changed: issue 21's correction ------------------------------------


def test_v2s_expansion_ratios_are_counted_from_its_table(facts) -> None:
    counts = ch06.expansion_counts(EFFICIENTNET_V2_S_TABLE)
    assert counts["MBConv", 6] == facts.v2s_mbconv_e6 == 24
    assert counts["MBConv", 4] == facts.v2s_mbconv_e4 == 6
    assert facts.v2s_mbconv_blocks == 30 and facts.v2s_blocks == 40
    assert (facts.v2s_e4_stages, facts.v2s_e6_stages) == ("2, 3 and 4", "5 and 6")
    assert facts.v2s_e4_blocks == 14
    assert ch06.expansion_counts(EFFICIENTNET_B0_TABLE) == {("MBConv", 1): 1, ("MBConv", 6): 15}
    assert facts.v2s_e6_share < facts.b0_e6_share  # "prefers smaller expansion ratios"


# ---- the four blocks side by side ----------------------------------------------------------


BN = {  # BatchNorm's parameters: 2 per channel of every normalised conv (C in, E expanded)
    "DepthwiseSeparableConv": lambda c, e: 2 * c + 2 * c,
    "InvertedResidual": lambda c, e: 2 * e + 2 * e + 2 * c,
    "MBConv": lambda c, e: 2 * e + 2 * e + 2 * c,
    "FusedMBConv": lambda c, e: 2 * e + 2 * c,
}


@pytest.mark.parametrize("widths", [ch06.BLOCK_WIDTHS, {"channels": 32, "size": 14,
                                                        "expand_ratio": 6, "kernel_size": 5}])
def test_block_rows_equal_the_blocks_and_their_formulas(widths) -> None:
    c, size, e, k = (widths[n] for n in ("channels", "size", "expand_ratio", "kernel_size"))
    real = {
        "DepthwiseSeparableConv": DepthwiseSeparableConv(c, c, kernel_size=k),
        "InvertedResidual": InvertedResidual(c, c, expand_ratio=e, kernel_size=k),
        "MBConv": MBConv(c, c, expand_ratio=e, kernel_size=k, se_ratio=0.25),
        "FusedMBConv": FusedMBConv(c, c, expand_ratio=e, kernel_size=k),
    }
    rows = ch06.block_comparison(**widths)
    assert [r.module for r in rows] == list(real)
    for row in rows:
        block = real[row.module]
        assert row.params == measure.count_parameters(block)
        assert row.macs == measure.count_flops(block, (1, c, size, size)).macs
        assert row.weights + BN[row.module](c, c * e) == row.params


def test_the_block_facts(facts) -> None:
    rows = {r.module: r for r in ch06.block_comparison(**ch06.BLOCK_WIDTHS)}
    assert facts.blk_se_params == 2 * 256 * 16 + 16 + 256
    assert facts.blk_se_macs == 2 * 256 * 16
    assert rows["FusedMBConv"].params > rows["MBConv"].params > rows["InvertedResidual"].params
    assert facts.blk_fused_macs_ratio > 1 and facts.blk_ir_over_ds_macs > 1
    table = ch06.blocks_table(list(rows.values())).data
    assert "$C E k^2 + C E$" in table and "164,480" in table


# ---- activation memory ---------------------------------------------------------------------


def test_memory_claims(facts) -> None:
    assert facts.mem_b0 == facts.mem_mnv2  # "also peaks at"
    assert facts.mem_v2s < facts.mem_mnv2  # "needs less"
    assert facts.mem_mnv2_folded < facts.mem_mnv2
    assert facts.table3_kb == round(16 * 112 * 112 * 2 / 1000)  # the paper's 400K
    assert (facts.mem_peak_shape, facts.mem_peak_expanded) == ("16×112×112", 96)
    assert facts.v2s_over_b0 == 4


def test_exercise_head_share_uses_the_exercises_answer(facts) -> None:
    from mbcourse.exercises import solution_values

    head = solution_values(6)["ch6_ex_head_macs"]
    total = measure.count_flops(ch06._meta_networks()["MobileNetV2"], 224, device="meta").macs
    assert facts.ex_head_share == round(100 * head / total, 1)


# ---- tables --------------------------------------------------------------------------------


def test_architecture_tables_have_their_papers_columns() -> None:
    b0 = ch06.architecture_table(EFFICIENTNET_B0_TABLE).data.splitlines()
    v2 = ch06.architecture_table(EFFICIENTNET_V2_S_TABLE).data.splitlines()
    assert b0[0] == "| stage | operator | resolution | channels | layers |"
    assert b0[3] == "| 2 | MBConv1, k3x3, SE0.25 | 112 × 112 | 16 | 1 |"
    assert v2[0] == "| stage | operator | stride | channels | layers |"
    assert v2[-1] == "| 7 | Conv1x1 & Pooling & FC | - | 1280 | 1 |"


@pytest.mark.parametrize("bad", [[], [1, 2], "rows"])
def test_markdown_table_rejects_what_is_not_rows(bad) -> None:
    with pytest.raises(ValueError, match="markdown_table: lines"):
        ch06.markdown_table(bad)


def test_architecture_table_rejects_other_rows() -> None:
    with pytest.raises(ValueError, match="architecture_table"):
        ch06.architecture_table([1, 2, 3])


# ---- the timing verdict, for every outcome -------------------------------------------------


@pytest.mark.parametrize(("ratio", "spread", "words"), [
    (0.55, 0.10, "beyond the 10 %"),
    (0.95, 0.10, "within the timing noise"),
    (1.05, 0.10, "within the timing noise"),
    (1.30, 0.10, "slower beyond the 10 %"),
    (0.50, 4.0, "factor of 5.0"),
])
def test_speed_verdict_reads_for_every_outcome(ratio, spread, words) -> None:
    sentence = ch06.speed_verdict(ratio, spread, "CPU (x86_64, 2 threads); PyTorch eager, batch 1")
    assert words in sentence
    assert f"{ratio:.2f} times" in sentence and "2 threads" in sentence
    if "within" in words:
        assert "fewer passes" not in sentence  # no explanation of a speed-up that is not there


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, "fast"])
def test_speed_verdict_rejects_a_bad_ratio(bad) -> None:
    with pytest.raises(ValueError, match="speed_verdict: ratio"):
        ch06.speed_verdict(bad, 0.1, "CPU")


def _latency(name: str, times: tuple[float, ...]) -> Latency:
    return Latency(name, times, 1, min(times))


def test_fold_facts_reads_a_comparison() -> None:
    latency = {"eager": _latency("eager", (10.0, 11.0, 10.5)),
               "folded + channels_last": _latency("f", (6.0, 6.3, 6.6))}
    fold = ch06.fold_facts(latency, batchnorms=52, difference=3e-6, device="cpu")
    assert fold.speed_ratio == 0.6 and fold.speed_spread == pytest.approx(0.1, abs=1e-3)
    assert (fold.bn_before, fold.fold_diff) == (52, "3e-06")
    assert fold.speed_summary == "less memory and less time"
    assert "batch 1, 3 interleaved rounds" in fold.speed_verdict
    noisy = {"eager": _latency("eager", (10.0, 30.0)), "folded + channels_last": _latency("f",
                                                                                      (9.0, 9.5))}
    assert "no difference" in ch06.fold_facts(noisy, batchnorms=1, difference=0.0,
                                              device="cpu").speed_summary
    with pytest.raises(ValueError, match="fold_facts: latency"):
        ch06.fold_facts({"eager": latency["eager"]}, batchnorms=1, difference=0.0, device="cpu")


# ---- the figures follow the book's policy --------------------------------------------------


def _figures():
    use_book_figures()
    nets = ch06._meta_networks()
    stages = {n: measure.parameters_per_stage(net) for n, net in nets.items()}
    flops = {n: ch06._flops(n, 224) for n in nets}
    memory = {n: ch06._memory(n, 224, False) for n in nets}
    folded = {n: ch06._memory(n, 224, True) for n in nets}
    return [ch06.plot_parameters_per_stage(stages), ch06.plot_shares(stages, flops),
            ch06.plot_memory(memory, folded, nets)]


def test_plots_fit_the_column_with_readable_text() -> None:
    import matplotlib.pyplot as plt

    for fig in _figures():
        fig.canvas.draw()
        assert fig.get_figwidth() <= FIGURE_WIDTH_IN
        sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text)
                 if t.get_visible() and t.get_text().strip()]
        assert sizes and min(sizes) >= FIGURE_TEXT_PT
        for ax in fig.axes:  # one panel per row
            assert ax.get_subplotspec().get_geometry()[1] == 1
        for legend in fig.legends:  # the legend sits above the panels, over no bar
            top = max(ax.get_window_extent().y1 for ax in fig.axes)
            assert legend.get_window_extent().y0 >= top - 1
        plt.close(fig)


def test_memory_plot_ticks_are_plain_numbers() -> None:
    import matplotlib.pyplot as plt

    fig = _figures()[2]
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels(which="both") if t.get_text()]
    assert labels and all(re.fullmatch(r"[\d.]+", label) for label in labels)
    plt.close("all")


def test_row_labels_count_block_rows_from_one() -> None:
    b0 = ["stem", "stage2", "stage3", "head", "classifier"]
    assert [ch06.row_label(b0, s) for s in b0] == ["stem", "stage 1", "stage 2", "head",
                                                   "classifier"]
    assert ch06.row_label(["stem", "stage1"], "stage1") == "stage 1"
