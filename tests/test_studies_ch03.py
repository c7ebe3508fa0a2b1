"""mbcourse.studies.ch03: chapter 3's numbers against the papers and the package's own counts.

SENet's Table 10 (r = 2 row included) and ECA-Net's Table 2 as published; SE's share of
EfficientNet-B0 as issue 21 recomputed it (552 of 1,448 in the first block, 636,540 of
5,288,548 in the network); the speed sentences worded by the verdict builder for faster,
slower and within-noise timings, never quoting a percentage for an effect inside the noise.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from mbcourse import costs
from mbcourse.blocks import SqueezeExcitation, make_divisible
from mbcourse.measure import count_parameters
from mbcourse.measure.timing import Latency
from mbcourse.studies import ch03
from mbcourse.studies.verdicts import NOISE, Setting, SpeedResult, speed_sentence, speed_summary

SETTING = Setting("AMD EPYC CPU", "PyTorch 2.14.1 eager", batch=8, threads=1)


@pytest.fixture(scope="module")
def facts() -> ch03.Ch03Facts:
    return ch03.facts()


# ---- SENet, Table 10 -------------------------------------------------------------------------
def test_senet_table10_holds_the_r2_row_and_our_count_reproduces_the_parameters(facts) -> None:
    assert ch03.SENET_TABLE10[2] == (22.29, 45.7)
    assert sorted(ch03.SENET_TABLE10) == [2, 4, 8, 16, 32]
    for r, (_, params) in ch03.SENET_TABLE10.items():  # ResNet-50 + our SE count
        ours = ch03.RESNET50[1] + ch03.se_resnet50(r).params / 1e6
        assert ours == pytest.approx(params, abs=0.15)
    assert facts.formula_gap <= 0.15
    assert facts.err_spread == 0.04  # 22.25 ... 22.29: flat from r = 2 to r = 16
    assert facts.r2_over_r16 == 1.6 and facts.param_growth == 17.6
    assert facts.err_r32 == 0.44 and facts.se_gain == 1.02
    assert facts.r1_params > ch03.SENET_TABLE10[2][1]  # r = 1 is the most expensive of all


def test_senet_table_prints_every_row() -> None:
    text = ch03.senet_table().data
    for r, (err, params) in ch03.SENET_TABLE10.items():
        assert f"| {r} | {err:.2f} % | {params:.1f} M |" in text
    assert "not in the paper" in text and "no SE (ResNet-50)" in text


def test_se_resnet50_counts_one_se_per_bottleneck_block() -> None:
    by_hand = sum(n * costs.squeeze_excitation(c, c // 16).params
                  for c, n, _ in ch03.RESNET50_SE_STAGES)
    assert ch03.se_resnet50(16).params == by_hand
    assert sum(n for _, n, _ in ch03.RESNET50_SE_STAGES) == 16
    assert 2.4e6 < ch03.se_resnet50(16).params < 2.6e6  # SENet: "about 2.5 M"
    with pytest.raises(ValueError, match=r"se_resnet50.*reduction"):
        ch03.se_resnet50(1.5)


def test_se_resnet50_passes_count_every_gated_element() -> None:
    assert ch03.se_resnet50_passes() == (3 * 256 * 56**2 + 4 * 512 * 28**2 + 6 * 1024 * 14**2
                                         + 3 * 2048 * 7**2)


# ---- ECA-Net, Table 2 and the abstract -------------------------------------------------------
def test_eca_table2_as_published_and_the_gains_issue_21_quotes(facts) -> None:
    top1 = {v.name: v.top1 for v in ch03.ECA_TABLE2}
    assert top1 == {"SE": 76.71, "SE-Var1": 76.00, "SE-Var2": 77.07, "SE-Var3": 77.42,
                    "ECA, k = 3": 77.43}
    assert (facts.eca_var3_gain, facts.eca_var2_gain, facts.eca_k3_gain) == (0.71, 0.36, 0.72)


def test_eca_weights_follow_our_modules(facts) -> None:
    se, var3 = (next(v for v in ch03.ECA_TABLE2 if v.name == n) for n in ("SE", "SE-Var3"))
    assert se.weights(2048) == count_parameters(SqueezeExcitation(2048, reduction=16))
    fc = torch.nn.Conv2d(2048, 2048, 1)  # one C x C layer with bias
    assert var3.weights(2048) == count_parameters(fc) == facts.eca_fc_block
    assert facts.eca_k3_net == 3 * 16  # the fixed k = 3 of Table 2, 16 SE positions
    assert facts.eca_released_net == ch03.ECA_ABSTRACT_WEIGHTS == 80  # adaptive k: 3, 5, 5, 7
    assert facts.eca_released_k == "3, 5, 5 and 7"
    assert facts.eca_var2_net == 3 * 256 + 4 * 512 + 6 * 1024 + 3 * 2048


def test_eca_table_names_both_variants() -> None:
    text = ch03.eca_table().data
    assert "| ECA, k = 3 |" in text and "| 48 |" in text.replace(",", "")
    assert "adaptive k" in text and "| 80 |" in text


# ---- SE in EfficientNet-B0 (issue 21, item 6) ------------------------------------------------
def test_se_share_of_b0_as_issue_21_recomputed_it(facts) -> None:
    assert (facts.b0_first_se, facts.b0_first_params, facts.b0_first_se_pct) == (552, 1448, 38.1)
    assert (facts.b0_se_params, facts.b0_params, facts.b0_se_pct) == (636540, 5288548, 12.0)
    assert facts.b0_se_count == 16
    assert facts.b0_cexp == 480 and facts.b0_squeeze == 20 and facts.b0_r == 24
    assert facts.b0_block_se == costs.squeeze_excitation(480, 20).params == 19700
    assert round(facts.b0_block_se_pct) == 19
    assert facts.b0_later_min_pct < facts.b0_block_se_pct <= facts.b0_later_max_pct
    assert facts.b0_block_se_macs_pct < 1  # in multiply-adds SE is nearly free


def test_share_rows_grow_as_r_shrinks(facts) -> None:
    rows = {r.label: r for r in ch03.se_share_rows(ch03.b0_se_variants())}
    assert list(rows) == ["none", "B0's", "r=16", "r=8", "r=4", "r=2", "r=1"]
    assert rows["none"].se_params == 0 and rows["none"].se_share == 0
    shares = [rows[f"r={r}"].se_share for r in (16, 8, 4, 2, 1)]
    assert shares == sorted(shares)
    assert rows["r=1"].se_params == costs.squeeze_excitation(480, 480).params
    assert facts.share_r1 == round(100 * rows["r=1"].se_share, 1) > 70
    assert rows["r=1"].se_mac_share < 0.1  # even r = 1 is a small part of the multiply-adds
    with pytest.raises(ValueError, match=r"b0_se_variants.*reduction"):
        ch03.b0_se_variants(("B0", 0))


def test_mobilenetv3_sizes_se_from_the_expanded_channels(facts) -> None:
    assert facts.v3_squeeze == make_divisible(480 // 4, 8) == 120 and facts.v3_r == 4
    assert facts.v3_se_params == costs.squeeze_excitation(480, 120).params
    assert facts.v3_over_b0 == round(facts.v3_se_params / facts.b0_block_se, 1) > 5


# ---- the gates and the speed sentences -------------------------------------------------------
def test_gate_facts_and_bad_input() -> None:
    gate = torch.tensor([[0.2, 0.6], [0.3, 0.4]])
    assert ch03.gate_facts(gate) == ch03.GateFacts(0.2, 0.6, 0.2)
    with pytest.raises(ValueError, match="gate_facts: gate must be"):
        ch03.gate_facts(torch.ones(1, 4))


def _latency(name: str, median: float, spread: float = 0.02) -> Latency:
    times = (median, median * (1 + spread), median * (1 - spread / 2), median, median)
    return Latency(name, times, 8, min(times))


def _effects(text: str) -> list[str]:
    """Ratios and percentages a sentence quotes, other than the spread of the timing rounds."""
    spread = re.sub(r"up to \d+(?:\.\d+)?\s?%|the \d+(?:\.\d+)?\s?% spread", "", text)
    return re.findall(r"\d+(?:\.\d+)?\s?[%×]", spread)


def test_timing_within_noise_quotes_no_percentage() -> None:
    latency = {"none": _latency("none", 1.0), "B0's": _latency("B0's", 1.005),
               "r=16": _latency("r=16", 0.995), "r=1": _latency("r=1", 1.01)}
    timing = ch03.timing_facts(latency, SETTING)
    assert timing.lat_n_noise == timing.lat_n == 3
    for sentence in (timing.lat_verdict, timing.lat_r1_verdict):
        assert "AMD EPYC CPU" in sentence and "PyTorch 2.14.1 eager" in sentence
        assert "batch 8" in sentence and "1 thread" in sentence
        assert _effects(sentence) == [], sentence
    data = json.loads(timing.lat_data)
    assert [r["label"] for r in data["rows"]] == ["EfficientNet's SE (squeeze 20)", "r = 16",
                                                  "r = 1"]


def test_timing_beyond_noise_is_named() -> None:
    latency = {"none": _latency("none", 1.0), "B0's": _latency("B0's", 1.5),
               "r=16": _latency("r=16", 1.0), "r=1": _latency("r=1", 3.0)}
    timing = ch03.timing_facts(latency, SETTING)
    assert timing.lat_n_noise == 1 and timing.lat_n == 3
    assert "slower in 2" in timing.lat_verdict and "1.50×" in timing.lat_verdict
    assert "2.00×" in timing.lat_r1_verdict and "beyond" in timing.lat_r1_verdict
    assert _effects(timing.lat_r1_verdict) == ["2.00×"]  # the spread is not an effect
    with pytest.raises(ValueError, match="timing_facts: no timing named 'r=1'"):
        ch03.timing_facts({k: v for k, v in latency.items() if k != "r=1"}, SETTING)
    with pytest.raises(ValueError, match="speed_results: no timing named 'base'"):
        ch03.speed_results(latency, reference="base")


def test_timing_setting_names_the_clock() -> None:
    setting = ch03.timing_setting("cpu", batch=8, threads=1, clock="cpu")
    assert "process CPU time" in setting.engine and setting.batch == 8 and setting.threads == 1


# ---- the figures -----------------------------------------------------------------------------
def test_figures_fit_the_column_and_name_one_thread_count() -> None:
    latency = {k: _latency(k, 1.0 + i / 10) for i, k in
               enumerate(["none", "B0's", "r=16", "r=8", "r=4", "r=2", "r=1"])}
    rows = ch03.se_share_rows(ch03.b0_se_variants())
    setting = ch03.timing_setting("cpu", batch=8, threads=1)
    figures = [ch03.plot_gates(torch.rand(2, 16)), ch03.plot_se_params([256, 512], [1, 4, 16]),
               ch03.plot_se_cost(rows, latency, setting)]
    for fig in figures:
        assert fig.get_figwidth() <= 6.8
    titles = " ".join(ax.get_title() for ax in figures[-1].axes)
    assert "batch 8, 1 thread" in titles and "threads" not in titles
    import matplotlib.pyplot as plt

    for fig in figures:
        plt.close(fig)


# ---- the built chapter's glued sentences follow the timings they came from -------------------
def test_glued_speed_sentences_follow_the_glued_timings() -> None:
    glue = (Path(__file__).resolve().parents[1] / "_build" / "jupyter_execute" / "book"
            / "03_squeeze_excitation.glue.json")
    if not glue.is_file():
        message = f"{glue} is missing: build the book first"
        if os.environ.get("CI") == "true" or os.environ.get("MBCOURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    glued = {name: entry["data"].get("text/markdown", entry["data"].get("text/plain", ""))
             for name, entry in json.loads(glue.read_text()).items()}
    data = json.loads(ast.literal_eval(glued["ch3_lat_data"]))
    setting = Setting(**data["setting"])
    results = [SpeedResult(r["label"], r["ratio"], r["spread"]) for r in data["rows"]]
    verdict = glued["ch3_lat_verdict"]
    assert verdict == speed_summary(results, setting, candidate="the block with SE",
                                    reference="the block without SE", noun="SE variant")
    r1 = SpeedResult("", data["r1"]["ratio"], data["r1"]["spread"])
    assert glued["ch3_lat_r1_verdict"] == speed_sentence(
        r1, setting, candidate="the block with SE of r = 1",
        reference="the block with EfficientNet's SE")
    for part in (setting.device, setting.engine, f"batch {setting.batch}", "thread"):
        assert part in verdict
    for result in results:  # a ratio within its noise is never quoted
        if result.outcome == NOISE:
            assert f"{result.label}:" not in verdict
    assert int(glued["ch3_lat_n_noise"]) == sum(r.outcome == NOISE for r in results)
