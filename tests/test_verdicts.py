"""mbcourse.studies.verdicts: every verdict sentence, for every outcome class.

Speed: all faster, all slower, all within noise, and each mix (faster + slower + noise, faster
+ slower, faster + noise, slower + noise), for one result and for many. Accuracy: shown higher,
shown lower, not shown with the interval covering 0, not shown although the interval excludes 0.
Every sentence names its setting, quotes no ratio of a result within noise, and reads as prose
(no "1 settings", no "all 2", no empty lists).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mbcourse.studies.stats import PairedTest, paired_family
from mbcourse.studies.verdicts import (
    FASTER,
    NOISE,
    SLOWER,
    Setting,
    SpeedResult,
    accuracy_outcome,
    accuracy_sentence,
    count,
    family_sentence,
    format_p,
    join,
    rules,
    speed_outcome,
    speed_sentence,
    speed_summary,
)

SETTING = Setting("AMD EPYC CPU", "PyTorch 2.14.1 eager", batch=1, threads=1,
                  precision="float32", layout="channels-last")
GPU = Setting("NVIDIA H100", "PyTorch 2.14.1 eager", batch=32, precision="bfloat16 autocast")
R = SpeedResult


def _fast(label: str, ratio: float = 0.6) -> SpeedResult:
    return R(label, ratio, 0.1)


def _slow(label: str, ratio: float = 1.6) -> SpeedResult:
    return R(label, ratio, 0.1)


def _noise(label: str, ratio: float = 1.04) -> SpeedResult:
    return R(label, ratio, 0.1)


def summary(results: list[SpeedResult], setting: Setting = SETTING) -> str:
    return speed_summary(results, setting, candidate="Fused-MBConv", reference="MBConv")


def assert_prose(text: str) -> None:
    assert text[0].isupper() and text.endswith(".")
    assert "  " not in text and " ," not in text and "()" not in text
    assert not re.search(r"\b1 \w+s\b", text), text  # "1 settings"
    assert "all 2 " not in text and "all 1 " not in text, text
    assert "None" not in text and "nan" not in text


def assert_names_setting(text: str, setting: Setting = SETTING) -> None:
    for part in (setting.device, setting.engine, f"batch {setting.batch}"):
        assert part in text, (part, text)
    if setting.threads is not None:
        assert count(setting.threads, "thread") in text


def test_outcome_follows_within_noise() -> None:
    assert speed_outcome(0.6, 0.1) == FASTER and speed_outcome(1.6, 0.1) == SLOWER
    assert speed_outcome(1.05, 0.1) == NOISE and speed_outcome(1 / 1.05, 0.1) == NOISE
    assert R.from_speedup("m", 2.0, 0.1).ratio == 0.5


# ---- speed, many results: each outcome class ---------------------------------------------------
def test_all_faster() -> None:
    text = summary([_fast("C = 16 at 7×7", 0.61), _fast("C = 32 at 7×7", 0.8)])
    assert_prose(text)
    assert_names_setting(text)
    assert "faster than MBConv in both settings" in text
    assert "C = 16 at 7×7: 0.61×" in text and "0.80×" in text


def test_all_slower_gives_a_range_when_many() -> None:
    text = summary([_slow(f"C = {c}", 1.2 + c / 100) for c in (16, 32, 64, 128, 256)])
    assert_prose(text)
    assert_names_setting(text)
    assert "slower than MBConv in all 5 settings" in text and "1.36× to 3.76×" in text


def test_all_within_noise_quotes_no_ratio() -> None:
    text = summary([_noise("a", 1.04), _noise("b", 0.97), _noise("c", 1.09)])
    assert_prose(text)
    assert_names_setting(text)
    assert "within the noise of their timing rounds in all 3 settings" in text
    assert "no difference in speed is shown" in text
    assert "×" not in text and "%" not in text


def test_faster_slower_and_noise() -> None:
    results = [_fast("C = 16 at 7×7", 0.6), _fast("C = 32 at 14×14", 0.8)]
    results += [_slow(f"s{i}", 1.4 + i / 10) for i in range(6)]
    results += [_noise("n1", 1.05), _noise("n2", 0.96)]
    text = summary(results)
    assert_prose(text)
    assert_names_setting(text)
    assert "in 2 of the 10 settings (C = 16 at 7×7: 0.60×; C = 32 at 14×14: 0.80×" in text
    assert "slower in 6 (1.40× to 1.90×" in text and "within the noise in the other 2" in text
    assert "1.05" not in text and "0.96" not in text  # within noise: counted, never quoted


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([_fast("a"), _slow("b")], "slower in the other one (b: 1.60×"),
        ([_fast("a"), _noise("b"), _noise("c")], "within the noise in the other 2"),
        ([_slow("a"), _noise("b")], "faster than MBConv in none of the 2 settings: it was "
                                    "slower in one (a: 1.60×"),
    ],
    ids=["faster+slower", "faster+noise", "slower+noise"],
)
def test_two_outcome_mixes(results: list[SpeedResult], expected: str) -> None:
    text = summary(results)
    assert_prose(text)
    assert_names_setting(text)
    assert expected in text


# ---- speed, one result --------------------------------------------------------------------------
def test_single_result_each_outcome() -> None:
    faster = speed_sentence(R("MobileNetV2", 0.5, 0.08), SETTING, candidate="channels-last",
                            reference="eager")
    slower = speed_sentence(R("MobileNetV2", 1.3, 0.08), SETTING, candidate="channels-last",
                            reference="eager")
    noisy = speed_sentence(R("MobileNetV2", 1.2, 0.58), SETTING, candidate="channels-last",
                           reference="eager")
    for text in (faster, slower, noisy):
        assert_prose(text)
        assert_names_setting(text)
        assert text.startswith("For MobileNetV2, on ")
    assert "ran 2.00× as fast as eager" in faster and "8%" in faster
    assert "took 1.30× as long as eager" in slower
    assert "no difference in speed is shown" in noisy and "1.2" not in noisy
    assert summary([R("x", 0.5, 0.08)]) == speed_sentence(
        R("x", 0.5, 0.08), SETTING, candidate="Fused-MBConv", reference="MBConv")


def test_gpu_setting_names_no_threads() -> None:
    text = summary([_fast("stage 1"), _slow("stage 6")], GPU)
    assert_names_setting(text, GPU)
    assert "thread" not in text and "bfloat16 autocast" in text


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="speed_summary: give at least one SpeedResult"):
        summary([])
    with pytest.raises(ValueError, match="Setting: batch must be a positive integer"):
        Setting("cpu", "eager", batch=0)
    with pytest.raises(ValueError, match="Setting: engine must be a non-empty string"):
        Setting("cpu", "", batch=1)
    with pytest.raises(ValueError, match="speed_sentence: candidate"):
        speed_sentence(_fast("a"), SETTING, candidate="", reference="b")
    with pytest.raises(ValueError, match="within_noise: ratio"):
        _ = R("a", -1.0, 0.1).outcome


def test_setting_for_this_cpu() -> None:
    setting = Setting.for_device("cpu", batch=4, threads=2)
    assert setting.threads == 2 and setting.device.endswith("CPU")
    assert setting.engine.startswith("PyTorch ") and setting.engine.endswith(" eager")


# ---- accuracy: each outcome class ---------------------------------------------------------------
def _family() -> dict[str, PairedTest]:
    rng = np.random.default_rng(0)
    base = rng.normal(0.9, 0.01, 10)
    values = {"up": base + 0.02 + rng.normal(0, 0.002, 10), "base": base,
              "same": base + rng.normal(0, 0.01, 10),
              "down": base - 0.01 + rng.normal(0, 0.004, 10)}
    return paired_family({"up vs base": ("up", "base"), "same vs base": ("same", "base"),
                          "down vs base": ("down", "base")}, values)


def test_accuracy_higher_lower_and_not_shown() -> None:
    family = _family()
    up, same, down = (family[k] for k in ("up vs base", "same vs base", "down vs base"))
    assert [accuracy_outcome(t) for t in (up, same, down)] == ["higher", "not shown", "lower"]
    texts = [accuracy_sentence(t, a=f"variant {t.a}", b="the baseline") for t in (up, same, down)]
    for text in texts:
        assert_prose(text)
        assert "95 % CI [" in text and "Holm-adjusted over 3 comparisons" in text
        assert "(paired t)" in text and "(sign-flip)" in text and "10 paired seeds" in text
    assert "reached a higher test accuracy than the baseline (Δ = +1.9 points" in texts[0]
    assert "are not shown to differ" in texts[1] and "includes 0" in texts[1]
    assert "reached a lower test accuracy" in texts[2] and "Δ = −1.0 points" in texts[2]
    assert "-" not in texts[2].split("(")[1]  # minus signs, not hyphens, in the numbers


def test_accuracy_ci_excludes_zero_but_not_after_holm() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(0.9, 0.01, 10)
    values = {"a": base + 0.004 + rng.normal(0, 0.005, 10), "b": base}
    for k in range(8):  # seven more comparisons of pure noise make the family large
        values[f"n{k}"] = base + rng.normal(0, 0.005, 10)
    comparisons = {"a vs b": ("a", "b"), **{f"n{k}": (f"n{k}", "b") for k in range(8)}}
    test = paired_family(comparisons, values)["a vs b"]
    assert test.ci_excludes_zero and not test.shown
    text = accuracy_sentence(test)
    assert_prose(text)
    assert "not shown to differ" in text and "not after the correction for the family" in text


def test_family_sentence_all_some_none() -> None:
    family = list(_family().values())
    some = family_sentence(family)
    assert some.startswith("2 of the 3 comparisons showed") and "the other one did not" in some
    shown = [t for t in family if t.shown]
    assert family_sentence(shown).startswith("Both comparisons showed")
    one = family_sentence([t for t in family if not t.shown])
    assert one == ("The comparison (same vs base) did not show a difference beyond the "
                   "seed-to-seed noise.")
    assert family_sentence(family[:1] + family[1:2]).startswith("1 of the 2 comparisons")


def test_helpers_and_rules() -> None:
    assert join(["a"]) == "a" and join(["a", "b"]) == "a and b"
    assert join(["a", "b", "c"]) == "a, b and c"
    assert count(1, "seed") == "1 seed" and count(3, "seed") == "3 seeds"
    assert [format_p(p) for p in (0.0004, 0.004, 0.03, 0.999)] == ["< 0.001", "0.004", "0.03",
                                                                    "1"]
    data = json.loads(json.dumps(rules()))  # plain data: the device panel reads it
    assert data["alpha"] == 0.05 and data["speed"]["outcomes"] == [FASTER, SLOWER, NOISE]
    assert "log1p(spread)" in data["speed"]["within_noise"]
