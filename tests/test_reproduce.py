"""The stored study of chapter 7 (book/data/ch7_experiments.json): complete, and reproducible.

The fast tests check the file itself: its provenance, that every variant ran every seed (at
least ten, shared), that its data set is the one the code draws today, and that the chapter's
analysis of it runs. The slow test re-runs a sample, two seeds of two variants, exactly as the
file says they were trained, and fails unless the results match the stored ones within
``experiments.TOLERANCE``: bit for bit on the machine and software that made the file, within
the stated drift elsewhere (about two minutes on two cores).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mbcourse.studies import experiments, verdicts
from mbcourse.studies.experiments import (
    COMPARISONS,
    StudyConfig,
    analyse_study,
    load_study,
    reproduce,
    reproduction_errors,
)
from mbcourse.studies.stored import sha256_of
from mbcourse.training.data import load_cluttered_digits

#: The sample CI re-runs: the cheapest network of each family.
SAMPLE_VARIANTS = ("mv2", "fused_params")


@pytest.fixture(scope="module")
def study() -> dict:
    return load_study()


def test_the_study_has_provenance(study) -> None:
    p = study["provenance"]
    assert p["command"].startswith("python -m mbcourse.studies.experiments --full")
    assert len(p["commit"]) == 40 and p["date"]
    assert {"python", "torch", "numpy", "scipy"} <= set(p["versions"])
    machine = p["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["threads"] == 1
    assert "gpu" in machine


def test_every_variant_ran_every_shared_seed(study) -> None:
    config = StudyConfig.from_dict(study["config"])
    assert len(config.seeds) >= 10
    assert set(study["variants"]) == set(experiments.VARIANTS)
    pairs = {(r["variant"], r["seed"]) for r in study["runs"]}
    assert pairs == {(v, s) for v in experiments.VARIANTS for s in config.seeds}
    assert len(study["runs"]) == len(pairs)  # no run twice
    for run in study["runs"]:
        assert run["n_test"] == config.n_test and 0 < run["correct"] <= run["n_test"]
        assert run["test_accuracy"] == pytest.approx(run["correct"] / run["n_test"])
    gate_runs = [r for r in study["runs"] if r["variant"] == experiments.GATE_VARIANT]
    assert all(r["gate_share"] for r in gate_runs)


def test_the_stored_costs_are_todays(study) -> None:
    for name, variant in experiments.VARIANTS.items():
        costs = experiments.network_costs(variant.build(), study["config"]["canvas"])
        assert study["variants"][name]["params"] == costs["params"], name
        assert study["variants"][name]["macs"] == costs["macs"], name


def test_the_test_set_is_the_one_the_code_draws(study) -> None:
    config = StudyConfig.from_dict(study["config"])
    _, test = load_cluttered_digits(8, config.n_test, seed=0, canvas=config.canvas,
                                    clutter=config.clutter)
    assert sha256_of(test.images, test.labels) == study["data"]["test_sha256"]


def test_the_analysis_covers_the_family(study) -> None:
    analysis = analyse_study(study)
    assert set(analysis.tests) == set(COMPARISONS)
    for test in analysis.tests.values():
        assert test.n == len(study["config"]["seeds"]) and test.family_size == len(COMPARISONS)
        assert test.p_t_holm >= test.p_t and test.p_flip_holm >= test.p_flip


@pytest.mark.slow
def test_a_sample_reproduces(study) -> None:
    seeds = list(StudyConfig.from_dict(study["config"]).seeds[:2])
    records = reproduce(study, SAMPLE_VARIANTS, seeds, workers=2)
    errors = reproduction_errors(study, records)
    assert not errors, "\n".join(errors)


# --------------------------------------------------------------------------------------------
# The built chapter's glued verdicts come from the stored per-seed numbers
# --------------------------------------------------------------------------------------------
GLUE = Path(__file__).resolve().parents[1] / "_build" / "jupyter_execute" / "book" / \
    "07_experiments.glue.json"
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("MBCOURSE_REQUIRE_BROWSER") == "1"
GLUED_TESTS = {
    "ch7_linear_sentence": "linear vs ReLU6",
    "ch7_shortcut_sentence": "shortcuts vs none",
    "ch7_se_sentence_1": "SE r = 1 vs none",
    "ch7_se_sentence_16": "SE r = 16 vs none",
    "ch7_se_r1_r16_sentence": "SE r = 1 vs r = 16",
    "ch7_fused_params_sentence": "fused vs MBConv (matched parameters)",
    "ch7_fused_macs_sentence": "fused vs MBConv (matched multiply-adds)",
}


def test_glued_accuracy_verdicts_follow_the_stored_study(study) -> None:
    if not GLUE.is_file():
        message = f"{GLUE} is missing: build the book first"
        if REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    glued = {name: entry["data"].get("text/markdown", "")
             for name, entry in json.loads(GLUE.read_text()).items()}
    tests = analyse_study(study).tests
    for key, name in GLUED_TESTS.items():
        test = tests[name]
        assert verdicts._evidence(test, 100.0, "points", 1) in glued[key], key
        shown = "beyond the seed-to-seed noise" in glued[key]
        assert shown == test.shown, key
