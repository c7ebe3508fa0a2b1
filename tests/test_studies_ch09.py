"""Chapter 9's studies (mbcourse.studies.ch09): tables, plots, and every verdict sentence for
each outcome class (faster, slower, within noise; the engines agreeing or not)."""

from __future__ import annotations

import dataclasses

import matplotlib
import pytest
import torch

from mbcourse.measure import Latency
from mbcourse.models.efficientnet import efficientnet_config
from mbcourse.studies import ch09
from mbcourse.studies.experiments import Run
from mbcourse.studies.verdicts import FASTER, NOISE, SLOWER

matplotlib.use("Agg")

SETTING = ch09.cpu_setting("ONNX Runtime 1.0 (CPU)", threads=1)


def lat(name: str, *times: float) -> Latency:
    return Latency(name, tuple(times), 1, min(times))


def latencies(ratio_of: dict[str, float], spread: float = 0.02) -> dict[str, Latency]:
    """Four variants whose medians give ``ratio_of[variant]`` times eager's 10 ms."""
    out = {}
    for v in ch09.VARIANTS:
        m = 10.0 * ratio_of.get(v, 1.0)
        out[v] = lat(v, m, m * (1 + spread), m * (1 - spread / 3))
    return out


# ------------------------------------------------------------------------------ where, tables
def test_setting_names_device_engine_batch_and_threads() -> None:
    phrase = SETTING.phrase()
    assert "CPU" in phrase and "ONNX Runtime 1.0" in phrase
    assert "batch 1" in phrase and "1 thread" in phrase


def test_export_table_and_facts() -> None:
    rows = [ch09.ExportRow("MobileNetV2", 52, 0, 100, 14.06, 2.5e-6, 0.5),
            ch09.ExportRow("EfficientNet-B0", 49, 0, 239, 21.5, 6.2e-7, 0.4)]
    table = ch09.export_table(rows).data
    assert "| MobileNetV2 | 52 | 0 | 100 | 14.1 | 2.5e-06 | 0.50 |" in table
    facts = ch09.export_facts(rows)
    assert (facts.bn_mnv2, facts.bn_b0, facts.diff_max, facts.file_mnv2) == (52, 49, "2.5e-06",
                                                                             14.1)


# ------------------------------------------------------------------------- engines' verdicts
@pytest.mark.parametrize(("ratios", "expected"), [
    ({"a": 0.3, "b": 0.4, "c": 0.35}, "was faster than PyTorch eager in all 3 networks"),
    ({"a": 1.5, "b": 1.4, "c": 1.6}, "was slower than PyTorch eager in all 3 networks"),
    ({"a": 1.0, "b": 1.01, "c": 0.995}, "within the noise of their timing rounds in all 3"),
    ({"a": 0.3, "b": 1.0, "c": 1.6}, "in 1 of the 3 networks"),
])
def test_engine_verdicts_for_every_outcome(ratios: dict[str, float], expected: str) -> None:
    lats = {name: latencies({"ORT fp32": r, "ORT int8": r, "optimize_for_inference": r})
            for name, r in ratios.items()}
    facts = ch09.engine_facts(lats, SETTING, changes={"silu": 49, "se": 16})
    text = facts.ort_summary.data
    assert expected in text
    assert SETTING.phrase() in text  # device, engine, batch, threads
    if "within the noise" in expected:
        assert "×" not in text  # an effect inside its noise is never quoted
    assert (facts.lite_silu, facts.lite_se) == (49, 16)
    # int8 against fp32: the same ratios over each other give 1: within noise everywhere
    assert "within the noise" in facts.int8_summary.data


def test_latency_table_lists_every_variant_and_the_spread() -> None:
    table = ch09.latency_table({"MobileNetV2": latencies({"ORT fp32": 0.3, "ORT int8": 0.15})},
                               SETTING).data
    assert all(v in table for v in ch09.VARIANTS)
    assert "| MobileNetV2 | 10.0 ms (1.00×) |" in table and "| 0.50 |" in table
    assert SETTING.phrase() in table


# ------------------------------------------------------------------------------ int8 graph
def profile(conv: float, act: float, pool: float, qdq: float) -> dict[str, float]:
    return {"QLinearConv": conv, "QLinearSigmoid": act / 2, "QLinearMul": act / 2,
            "ReduceMean": pool, "QuantizeLinear": qdq, "Gemm": 0.5}


def test_grouped_puts_every_operator_in_one_group() -> None:
    p = profile(10.0, 4.0, 1.0, 0.5)
    g = ch09.grouped(p)
    assert g["convolutions"] == 10.0 and g["SiLU and SE gate"] == 4.0 and g["pooling"] == 1.0
    assert g[ch09.OTHER] == pytest.approx(0.5)
    assert sum(g.values()) == pytest.approx(sum(p.values()))


@pytest.mark.parametrize(("int8_conv", "int8_act", "phrase"), [
    (20.0, 40.0, "outweigh the"),
    (20.0, 8.0, "took back"),
    (60.0, 8.0, "saved nothing on the convolutions"),
    (20.0, 0.0, "added nothing elsewhere"),
])
def test_int8_balance_for_every_case(int8_conv: float, int8_act: float, phrase: str) -> None:
    fp32 = {"Conv": 50.0, "QuickGelu": 6.0, "ReduceMean": 2.0}
    int8 = profile(int8_conv, int8_act, 2.0 if int8_act else 1.0, 0.0)
    profiles = {("EfficientNet-B0", "fp32"): fp32, ("EfficientNet-B0", "int8"): int8,
                ("B0 lite", "fp32"): {"Conv": 40.0}, ("B0 lite", "int8"): {"QLinearConv": 25.0}}
    facts = ch09.graph_facts({"Sigmoid": 65, "Conv": 81, "DequantizeLinear": 370},
                             {"QLinearSigmoid": 65, "QLinearMul": 65, "DequantizeLinear": 18,
                              "ReduceMean": 17, "QLinearConv": 81}, profiles)
    assert phrase in facts.int8_balance.data
    assert (facts.file_sigmoid, facts.file_conv, facts.opt_qsig, facts.opt_sigmoid) == (65, 81, 65,
                                                                                       0)
    assert facts.opt_float == "17 ReduceMean"
    assert facts.lite_conv_fp32_ms == "40.0" and facts.lite_conv_int8_ms == "25.0"


def test_what_onnx_runtime_runs_in_a_small_int8_network_with_silu_and_se(tmp_path) -> None:
    """Issue 21 item 2 on a real (small) graph: the QDQ file holds float Sigmoids, the optimized
    graph runs them as integer QLinearSigmoid kernels."""
    pytest.importorskip("onnxruntime")
    from mbcourse.deploy import export_onnx, operator_counts, optimized_graph, quantize_int8
    from mbcourse.studies.experiments import tiny_efficientnet

    torch.manual_seed(0)
    net = tiny_efficientnet(se_reduction=4).eval()
    fp32 = export_onnx(net, (1, 3, 12, 12), tmp_path / "fp32.onnx", exporter="torchscript",
                       dynamic_batch=True)
    int8 = quantize_int8(fp32, torch.randn(8, 3, 12, 12), tmp_path / "int8.onnx")
    file_ops = operator_counts(int8)
    optimized = operator_counts(optimized_graph(int8, tmp_path / "opt.onnx"))
    assert file_ops.get("Sigmoid", 0) > 0 and file_ops.get("Conv", 0) > 0
    assert optimized.get("QLinearSigmoid", 0) == file_ops["Sigmoid"]
    assert optimized.get("Sigmoid", 0) == 0 and optimized.get("Conv", 0) == 0
    assert optimized.get("QLinearConv", 0) == file_ops["Conv"]


# ------------------------------------------------------------------- MBConv vs Fused-MBConv
def test_stage_pairs_follow_efficientnet_v2_s() -> None:
    pairs = list(ch09.stage_pairs(efficientnet_config("efficientnet_v2_s"), 128))
    assert [p.channels for p in pairs] == [24, 48, 64, 128, 160, 256]
    assert [p.resolution for p in pairs] == [64, 32, 16, 8, 8, 4]
    assert [p.expand_ratio for p in pairs] == [1, 4, 4, 4, 6, 6]
    for p in pairs:
        assert set(p.blocks) == {"MBConv", "Fused-MBConv"}
        x = torch.randn(p.shape)
        for block in p.blocks.values():
            assert block.eval()(x).shape == x.shape
        assert p.mac_ratio > 1  # the fused block always does more multiply-adds


def stage(number: int, eager: float, ort: float, spread: float = 0.02) -> ch09.StageResult:
    pair = next(p for p in ch09.stage_pairs(efficientnet_config("efficientnet_v2_s"), 128)
                if p.stage == number)
    ms = {"eager MBConv": 4.0, "ORT MBConv": 1.0}
    ms["eager Fused-MBConv"], ms["ORT Fused-MBConv"] = 4.0 * eager, 1.0 * ort
    lats = {k: lat(k, v, v * (1 + spread), v) for k, v in ms.items()}
    return ch09.stage_result(pair, lats)


@pytest.mark.parametrize(("pairs", "agreement", "question"), [
    ([(0.5, 0.5), (2.0, 2.0)], "same verdict in all 2 stages", "no stage got opposite"),
    ([(0.5, 2.0), (2.0, 0.5)], "opposite verdicts in every stage", "opposite"),
    ([(0.5, 2.0), (2.0, 2.0), (1.0, 1.0)], "opposite verdicts in stage 1 (", "in stage 1"),
    ([(0.5, 2.0), (1.0, 2.0)], "within its timing noise (stage 2: within noise under eager",
     "in stage 1"),
    ([(1.0, 3.0), (1.0, 2.0)], "No stage got opposite verdicts", "no stage got opposite"),
])
def test_engine_agreement_and_question_follow_the_outcome(
    pairs: list[tuple[float, float]], agreement: str, question: str
) -> None:
    results = [stage(i + 1, e, o) for i, (e, o) in enumerate(pairs)]
    eager = ch09.cpu_setting("PyTorch 2 eager", threads=1)
    facts = ch09.stage_facts(results, eager, SETTING, SETTING)
    assert agreement in facts.engine_verdict.data
    assert question in facts.engine_question.data
    assert "PyTorch 2 eager" in facts.fused_eager.data and "ONNX Runtime" in facts.fused_ort.data
    assert facts.mac_min == round(min(r.pair.mac_ratio for r in results), 1)


@pytest.mark.parametrize(("fused_ort_ms", "expected"), [
    (1.0, "faster than PyTorch eager in both blocks"),  # MBConv 4 -> 1 ms, fused 4 -> 1 ms
    (4.0, "in 1 of the 2 blocks (MBConv: 0.25×"),  # fused unchanged: within noise
])
def test_engine_gain_of_stage_1_is_worded_by_its_noise(fused_ort_ms: float, expected: str) -> None:
    result = stage(1, 1.0, fused_ort_ms)
    facts = ch09.stage_facts([result], SETTING, SETTING, SETTING)
    assert facts.s1_engine_gain.data.startswith("For stage 1, on ")
    assert expected in facts.s1_engine_gain.data


def test_stage_outcomes_count_only_effects_beyond_noise() -> None:
    r = stage(1, 0.5, 1.01, spread=0.05)
    assert (r.eager.outcome, r.ort.outcome) == (FASTER, NOISE)
    assert stage(1, 2.0, 2.0).ort.outcome == SLOWER
    table = ch09.fused_stage_table([r], SETTING).data
    assert "0.50 (faster)" in table and "(within noise)" in table


def test_stage_list() -> None:
    assert ch09.list_stages([]) == "no stage"
    assert ch09.list_stages([3]) == "stage 3"
    assert ch09.list_stages([1, 2, 4]) == "stages 1, 2 and 4"


# ----------------------------------------------------------------------------- int8 accuracy
def runs(label: str, accuracies: list[float]) -> list[Run]:
    return [Run(label, s, 1000, [{"test_accuracy": a}], torch.nn.Identity())
            for s, a in enumerate(accuracies)]


def test_accuracy_facts_are_paired_and_honest_about_three_seeds() -> None:
    results = {
        "full": {"fp32": runs("full, fp32", [0.97, 0.98, 0.96]),
                 "int8": runs("full, int8", [0.97, 0.975, 0.96])},
        "lite": {"fp32": runs("lite, fp32", [0.975, 0.97, 0.98]),
                 "int8": runs("lite, int8", [0.972, 0.97, 0.98])},
    }
    facts = ch09.accuracy_facts(results, full="full", lite="lite", test_images=359)
    assert facts.n_seeds == 3 and facts.flip_floor == "0.25"
    assert facts.one_image == round(100 / 359, 2)
    assert facts.drop_full_max == 0.5 and facts.drop_lite_max == 0.3
    for sentence in (facts.q_full_sentence, facts.q_lite_sentence, facts.lite_vs_full_fp32):
        assert "not shown to differ" in sentence.data  # 3 pairs can never reach p < 0.05
        assert "Holm-adjusted over 3 comparisons" in sentence.data
    table = ch09.accuracy_table(results, epochs=5, image_size=12).data
    assert "| full | 1,000 | 97.0 ± 1.0 |" in table and "+0.0, −0.5, +0.0" in table.replace(
        "-", "−")


# --------------------------------------------------------------------------------- the plots
def _text_sizes(fig) -> list[float]:
    return [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]


def _legend_clear_of_axes(fig) -> bool:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    [legend] = fig.legends
    box = legend.get_window_extent(renderer)
    return all(not box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)


def test_plots_meet_the_figure_policy() -> None:
    from mbcourse.display import FIGURE_RC, FIGURE_TEXT_PT, FIGURE_WIDTH_IN

    with matplotlib.rc_context(FIGURE_RC):
        nets = {n: latencies({"ORT fp32": 0.3, "ORT int8": 0.2}) for n in ("A", "B", "C")}
        stages = [stage(i + 1, e, o) for i, (e, o) in enumerate([(0.5, 3.0), (1.0, 4.0)])]
        for fig in (ch09.plot_latency(nets), ch09.plot_fused_stages(stages)):
            assert fig.get_size_inches()[0] <= FIGURE_WIDTH_IN
            assert min(_text_sizes(fig)) >= FIGURE_TEXT_PT
            assert _legend_clear_of_axes(fig)  # never over a bar
            matplotlib.pyplot.close(fig)


def test_fused_plot_ticks_are_plain_numbers() -> None:
    stages = [stage(i + 1, e, o) for i, (e, o) in enumerate([(0.5, 3.0), (1.0, 4.0)])]
    fig = ch09.plot_fused_stages(stages)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert labels and not any("10^" in t or "×10" in t or "$" in t for t in labels)
    matplotlib.pyplot.close(fig)


# ------------------------------------------------------------------------------ the records
def test_facts_refuse_two_records_with_one_name() -> None:
    @dataclasses.dataclass(frozen=True)
    class Other:
        bn_mnv2: int

    rows = [ch09.ExportRow("MobileNetV2", 1, 0, 1, 1.0, 0.0, 1.0),
            ch09.ExportRow("EfficientNet-B0", 1, 0, 1, 1.0, 0.0, 1.0)]
    assert len(ch09.facts(ch09.export_facts(rows))) == 1
    with pytest.raises(ValueError, match="ch9_bn_mnv2"):
        ch09.facts(ch09.export_facts(rows), Other(1))
    with pytest.raises(TypeError, match="facts"):
        ch09.facts({"a": 1})
