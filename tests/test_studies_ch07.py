"""mbcourse.studies.ch07: chapter 7's numbers (from the stored study and the papers), its layout
timing, its tables, verdict sentences for every outcome, and figures that meet the book's policy."""

from __future__ import annotations

import dataclasses

import matplotlib
import matplotlib.pyplot as plt
import pytest
import scipy.stats
import torch
from IPython.display import Markdown
from matplotlib.text import Text

from mbcourse import costs
from mbcourse.display import FIGURE_TEXT_PT, FIGURE_WIDTH_IN
from mbcourse.studies import ch07, stats
from mbcourse.studies.experiments import (
    COMPARISONS,
    VARIANTS,
    Run,
    analyse_study,
    load_study,
    tiny_mobilenet_v2,
)
from mbcourse.studies.verdicts import NOISE, Setting, SpeedResult, _evidence


@pytest.fixture(scope="module")
def study():
    return load_study()


@pytest.fixture(scope="module")
def analysis(study):
    return analyse_study(study)


@pytest.fixture(scope="module")
def test_set(study):
    return ch07.study_test_set(study)


@pytest.fixture(scope="module")
def facts(study, test_set, analysis):
    return ch07.facts(study, test_set, analysis)


# ---- the facts -----------------------------------------------------------------------------------


def test_the_study_is_powered_and_its_test_set_is_the_stored_one(facts, study) -> None:
    assert facts.n_seeds == len(study["config"]["seeds"]) >= 10
    assert facts.n_variants == len(study["variants"]) == len(VARIANTS)
    assert facts.same_test_set
    assert facts.n_test == study["config"]["n_test"] and facts.canvas == 32
    assert 0 < facts.n_test_sources < facts.n_test
    assert facts.cpu_hours == round(sum(r["cpu_seconds"] for r in study["runs"]) / 3600, 1)
    assert study["provenance"]["command"] in facts.command


def test_the_statistics_match_scipy_and_the_counts(facts, analysis) -> None:
    n = len(analysis.seeds)
    assert facts.tcrit == round(float(scipy.stats.t.ppf(0.975, n - 1)), 2)
    assert facts.min_flip == round(2 / 2**n, 4)
    assert facts.n_comparisons == len(COMPARISONS)
    # the cluster bootstrap counts digits, not canvases: it cannot be much below the binomial SE
    assert facts.mv2_mean == round(100 * analysis.summaries["mv2"]["mean"], 1)
    assert facts.se_binomial > 0 and facts.se_cluster >= 0.8 * facts.se_binomial
    p = facts.mv2_acc0 / 100
    assert facts.se_binomial == pytest.approx(100 * (p * (1 - p) / facts.n_test) ** 0.5, abs=0.01)


def test_network_counts_come_from_the_networks(facts) -> None:
    net = tiny_mobilenet_v2()
    assert facts.n_blocks == len(net.blocks) == 7
    assert facts.n_residual == sum(b.use_residual for b in net.blocks) == 4


def test_senet_table10_as_published(facts) -> None:
    # Hu et al., SENet, Table 10 (SE-ResNet-50, ImageNet): r = 2 ... 32, top-1 err and params
    assert ch07.SENET_TABLE10[2] == (22.29, 45.7) and ch07.SENET_TABLE10[16] == (22.28, 28.1)
    assert ch07.SENET_TABLE10["ResNet-50"] == (23.30, 25.6)
    assert facts.senet_flat == "22.29 %, 22.25 %, 22.26 %, 22.28 %"
    assert facts.senet_r2_vs_r16 == 1.6


def test_se_parameters_match_the_package(facts, analysis) -> None:
    def params(name: str) -> int:
        return sum(p.numel() for p in VARIANTS[name].build().parameters())

    plain = params("en")
    assert facts.no_se_params == plain == analysis.summaries["en"]["params"]
    for r in (1, 16):
        with_se = params(f"en_se{r}")
        assert getattr(facts, f"se_added_{r}") == with_se - plain
        assert getattr(facts, f"se_added_pct_{r}") == round(100 * (with_se - plain) / plain)
    # r = 1 on a 96-channel block: 2C^2 + 2C (costs.squeeze_excitation)
    assert costs.squeeze_excitation(96, 96).params == 2 * 96 * 96 + 96 + 96
    assert facts.se_added_1 > facts.se_added_16 > 0


def test_the_verdict_sentences_read_from_the_paired_tests(facts, analysis) -> None:
    tests = analysis.tests
    for field, name in (("linear_sentence", "linear vs ReLU6"),
                        ("shortcut_sentence", "shortcuts vs none"),
                        ("se_sentence_1", "SE r = 1 vs none"),
                        ("fused_params_sentence", "fused vs MBConv (matched parameters)"),
                        ("fused_macs_sentence", "fused vs MBConv (matched multiply-adds)")):
        text = getattr(facts, field)
        assert _evidence(tests[name], 100.0, "points", 1) in text, field
        assert ("beyond the seed-to-seed noise" in text) == tests[name].shown, field
    assert facts.gate_verdict == ch07.gate_verdict(tests["SE gates: last vs first module"])
    assert 0 <= facts.share_first <= 1 and 0 <= facts.share_last <= 1


def test_for_glue_wraps_only_the_sentences(facts) -> None:
    glued = facts.for_glue()
    assert set(glued) == {f.name for f in dataclasses.fields(facts)}
    for name in ("family_sentence", "se_sentence_1", "se_sentence_16", "drift_sentence",
                 "gate_verdict", "linear_sentence"):
        assert isinstance(glued[name], Markdown), name
    assert isinstance(glued["command"], Markdown) and glued["command"].data.startswith("`")
    assert glued["n_seeds"] == facts.n_seeds and not isinstance(glued["n_seeds"], Markdown)


def _test(mean: float, p: float) -> stats.PairedTest:
    return stats.PairedTest("g", "gates_last", "gates_first", (mean,) * 10, mean, mean - 0.1,
                            mean + 0.1, 3.0, 9, p, p, p, p)


@pytest.mark.parametrize(("mean", "p", "start"), [
    (0.3, 0.001, "As SENet observed"), (-0.3, 0.001, "Unlike SENet"),
    (0.3, 0.4, "This study does not show"),
])
def test_gate_verdict_for_every_outcome(mean: float, p: float, start: str) -> None:
    assert ch07.gate_verdict(_test(mean, p)).startswith(start)


def test_drift_sentence_with_and_without_the_measurement(analysis) -> None:
    assert "has not been measured" in ch07.drift_sentence(analysis, None)
    drift = {"rows": [{"variant": "mv2", "rerun_accuracy": 0.60, "stored_accuracy": 0.58,
                       "rerun_loss": [1.01], "stored_loss": [1.0]}]}
    text = ch07.drift_sentence(analysis, drift)
    assert "the same 1 runs" in text and "2.0 to 2.0 points" in text and "1.00 %" in text


# ---- the page's runs -----------------------------------------------------------------------------


def test_demo_facts_of_a_run() -> None:
    run = Run("mv2", 0, 1234, [{"test_accuracy": 0.5}, {"test_accuracy": 0.876}],
              torch.nn.Identity())
    assert ch07.demo_facts(run) == ch07.DemoFacts(1234, 87.6)


def test_time_layouts_times_the_network_and_its_widest_depthwise_conv() -> None:
    timing = ch07.time_layouts("cpu", batch=2, rounds=1, min_run_time=0.01)
    net = tiny_mobilenet_v2()
    depthwise = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)
                 and m.groups == m.in_channels > 1 and m.stride == (1, 1)]
    n, c, h, w = timing.depthwise_shape
    assert n == 2 and c in {m.in_channels for m in depthwise} and h == w
    for result in (timing.network, timing.depthwise):
        assert result.ratio > 0 and result.spread >= 0
    assert f"{c}-channel depthwise" in timing.depthwise.label
    with pytest.raises(ValueError, match="time_layouts: batch must be a positive integer"):
        ch07.time_layouts("cpu", batch=0)


@pytest.mark.parametrize(("ratio", "spread", "words"), [
    (0.5, 0.05, "as fast as"), (2.0, 0.05, "as long as"), (1.02, 0.1, "within the noise"),
])
def test_layout_sentences_for_every_outcome(ratio: float, spread: float, words: str) -> None:
    setting = Setting("AMD EPYC CPU", "PyTorch 2 eager", batch=128, threads=1)
    result = SpeedResult("a step", ratio, spread)
    timing = ch07.LayoutTiming(result, result, (128, 72, 16, 16), 128)
    layout = ch07.layout_facts(timing, setting)
    for text in (layout.layout_sentence, layout.depthwise_sentence):
        assert words in text and "AMD EPYC CPU" in text and "batch 128" in text
        if result.outcome == NOISE:
            assert "×" not in text
    assert isinstance(layout.for_glue()["depthwise_sentence"], Markdown)


# ---- tables --------------------------------------------------------------------------------------


def test_tables_have_a_row_per_variant_and_comparison(analysis) -> None:
    variants = ch07.variants_table(analysis).data.splitlines()
    assert len(variants) == 2 + len(VARIANTS)
    assert sum("| reference |" in line for line in variants) == 2
    family = ch07.family_table(analysis).data.splitlines()
    assert len(family) == 2 + len(analysis.tests)
    shown = sum(line.endswith("| yes |") for line in family)
    assert shown == sum(t.shown for t in analysis.tests.values())
    fused = ch07.fused_table(analysis).data
    assert "| parameters |" in fused and "| multiply-adds |" in fused


# ---- figures -------------------------------------------------------------------------------------


def assert_book_figure(fig) -> None:
    """Within the column (tight bounding box, as the notebook's SVG) and no text under 12 pt."""
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    assert box.width <= FIGURE_WIDTH_IN + 0.01, f"{box.width:.2f} in wide"
    small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < FIGURE_TEXT_PT]
    assert not small, small
    plt.close(fig)


@pytest.fixture(autouse=True)
def _book_style():
    with matplotlib.rc_context({"font.size": FIGURE_TEXT_PT}):
        yield


def test_figures_meet_the_policy(study, analysis, test_set) -> None:
    history = [{"epoch": e, "train_loss": 1 / e, "test_accuracy": 0.1 * e, "lr": 0.01 / e}
               for e in range(1, 4)]
    for fig in (ch07.plot_canvases(test_set), ch07.plot_training(history),
                ch07.plot_se_accuracy(analysis), ch07.plot_gate_share(analysis),
                ch07.plot_gate_heatmaps(study), ch07.plot_forest(analysis)):
        assert_book_figure(fig)


def test_se_figure_has_one_colour_per_r_and_the_r2_row(analysis) -> None:
    fig = ch07.plot_se_accuracy(analysis)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["no SE", "r = 1", "r = 2", "r = 4", "r = 8", "r = 16", "r = 32"]
    _, senet = fig.axes
    colours = {line.get_color() for line in senet.get_lines()}
    assert len(senet.get_lines()) == len(ch07.SENET_TABLE10) == len(colours)
    plt.close(fig)
