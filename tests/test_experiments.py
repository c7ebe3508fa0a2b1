"""mbcourse.studies.experiments: block variants, small networks, seeds, comparisons, SE gates."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from mbcourse import costs
from mbcourse.blocks import (
    FusedMBConv,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
    record_se_gates,
)
from mbcourse.measure import count_parameters
from mbcourse.studies import experiments
from mbcourse.studies.experiments import (
    COMPARISONS,
    VARIANTS,
    Comparison,
    ExperimentNet,
    Run,
    Stage,
    StudyConfig,
    analyse_study,
    attach_se,
    compare,
    fused_match,
    gate_statistics,
    load_study,
    make_nonlinear_bottleneck,
    network_costs,
    remove_shortcut,
    reproduction_errors,
    run_seeds,
    run_study,
    se_gates_per_class,
    summarize,
    t_critical,
    t_two_sided_p,
    tiny_efficientnet,
    tiny_mobilenet_v2,
    train_one,
    unpack_hits,
)
from mbcourse.training.data import get_dataset


def trainable(module: nn.Module) -> int:
    return count_parameters(module, trainable_only=True)


# --------------------------------------------------------------------------------------------
# Block variants
# --------------------------------------------------------------------------------------------
def test_nonlinear_bottleneck_clips_the_projection() -> None:
    block = InvertedResidual(8, 12, stride=2).eval()
    x = torch.randn(4, 8, 8, 8)
    assert block(x).min() < 0  # the faithful projection is linear
    assert make_nonlinear_bottleneck(block)
    y = block(x)
    assert y.min() >= 0 and y.max() <= 6
    assert isinstance(block.project.act, nn.ReLU6)
    with pytest.raises(ValueError, match="already ends in an activation"):
        make_nonlinear_bottleneck(block)


def test_nonlinear_bottleneck_keeps_the_residual_add() -> None:
    block = InvertedResidual(8, 8, stride=1).eval()
    make_nonlinear_bottleneck(block)
    x = torch.randn(2, 8, 6, 6)
    branch = block.project(block.depthwise(block.expand(x)))
    assert torch.allclose(block(x), x + branch)


def test_fused_without_projection_is_left_alone() -> None:
    block = FusedMBConv(16, 16, expand_ratio=1)
    assert not make_nonlinear_bottleneck(block)


def test_remove_shortcut() -> None:
    block = InvertedResidual(8, 8, stride=1).eval()
    x = torch.randn(2, 8, 6, 6)
    with_shortcut = block(x)
    assert remove_shortcut(block)
    without = block(x)
    assert torch.allclose(with_shortcut, x + without)
    assert not remove_shortcut(InvertedResidual(8, 16, stride=1))  # never had one


def test_variants_leave_the_faithful_blocks_alone() -> None:
    tiny_mobilenet_v2(linear_bottleneck=False, residual=False)
    fresh = InvertedResidual(8, 8)
    assert fresh.use_residual and "act" not in fresh.project._modules


@pytest.mark.parametrize("reduction", [1, 4, 16])
def test_attach_se_adds_senet_sized_excitation(reduction: int) -> None:
    block = MBConv(16, 16, expand_ratio=4, se_ratio=0.0)
    before = trainable(block)
    se = attach_se(block, reduction)
    assert isinstance(block.se, SqueezeExcitation) and block.se is se
    assert se.channels == 64 and se.squeeze_channels == 64 // reduction
    added = costs.squeeze_excitation(64, 64 // reduction).params
    assert trainable(block) - before == added
    x = torch.randn(2, 16, 8, 8)
    with record_se_gates(block) as gates:
        assert block(x).shape == x.shape
    assert list(gates) == ["se"] and gates["se"].shape == (2, 64)


def test_attach_se_rejects_inverted_residual() -> None:
    with pytest.raises(TypeError, match="InvertedResidual has no SE slot"):
        attach_se(InvertedResidual(8, 8), 4)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [8, 16, 32])
def test_tiny_networks_shapes(size: int) -> None:
    x = torch.randn(2, 3, size, size)
    for net in (tiny_mobilenet_v2(), tiny_efficientnet(), tiny_efficientnet(fused_stages=2)):
        assert net(x).shape == (2, 10)


def test_variant_options_reach_every_block() -> None:
    base = tiny_mobilenet_v2()
    assert sum(b.use_residual for b in base.blocks) == 4  # two per downsampling stage
    no_shortcut = tiny_mobilenet_v2(residual=False)
    assert not any(b.use_residual for b in no_shortcut.blocks)
    relu = tiny_mobilenet_v2(linear_bottleneck=False)
    assert all(isinstance(b.project.act, nn.ReLU6) for b in relu.blocks)
    # the ablations change what is computed, not the parameters
    assert trainable(base) == trainable(no_shortcut) == trainable(relu)


def test_se_reduction_adds_the_closed_form_parameters() -> None:
    base = tiny_efficientnet()
    assert not any(isinstance(m, SqueezeExcitation) for m in base.modules())
    for r in (1, 4, 16):
        net = tiny_efficientnet(se_reduction=r)
        expected = sum(
            costs.squeeze_excitation(b.expanded_channels, b.expanded_channels // r).params
            for b in net.blocks
        )
        assert trainable(net) - trainable(base) == expected
    fused = tiny_efficientnet(fused_stages=2, se_reduction=4)
    assert not any(isinstance(b.se, SqueezeExcitation) for b in fused.blocks
                   if isinstance(b, FusedMBConv))


def test_fusing_adds_parameters() -> None:
    mb, fused = tiny_efficientnet(), tiny_efficientnet(fused_stages=2)
    assert sum(isinstance(b, FusedMBConv) for b in fused.blocks) == 3
    assert trainable(fused) > trainable(mb)


def test_stage_and_network_validation() -> None:
    with pytest.raises(ValueError, match="Stage: block must be one of"):
        Stage("conv", 1, 8, 1, 1)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        Stage("ir", 1, 8, 0, 1)
    with pytest.raises(ValueError, match="stages must not be empty"):
        ExperimentNet([])
    with pytest.raises(ValueError, match=r"fused_stages must be 0\.\.3"):
        tiny_efficientnet(fused_stages=4)


# --------------------------------------------------------------------------------------------
# Seeds and comparisons
# --------------------------------------------------------------------------------------------
def fake_runs(label: str, accuracies: list[float]) -> list[Run]:
    return [Run(label, i, 100, [{"test_accuracy": a}], nn.Identity())
            for i, a in enumerate(accuracies)]


def test_summarize_and_compare() -> None:
    a = fake_runs("A", [0.90, 0.91, 0.92])
    b = fake_runs("B", [0.80, 0.81, 0.82])
    s = summarize(a)
    assert s["mean"] == pytest.approx(0.91) and s["std"] == pytest.approx(0.01)
    c = compare(a, b)
    assert isinstance(c, Comparison)
    assert c.difference == pytest.approx(0.10)
    assert c.stderr == pytest.approx((0.01**2 / 3 * 2) ** 0.5)
    assert c.exceeds_noise
    assert c.sentence().startswith("A (91.0 ± 1.0) beats B (81.0 ± 1.0) by Δ = 10.0 percentage")
    assert "2·SE = 1.6" in c.sentence() and "df = 4.0" in c.sentence()
    reverse = compare(b, a)
    assert reverse.exceeds_noise and reverse.sentence().startswith("A (91.0")


def test_compare_within_noise() -> None:
    a = fake_runs("A", [0.90, 0.95, 0.85])
    b = fake_runs("B", [0.91, 0.86, 0.96])
    c = compare(a, b)
    assert not c.exceeds_noise
    assert "not significant at the 5 % level over 3 seeds each" in c.sentence()
    lower = compare(a, b, "variant a", "variant b")
    assert lower.sentence().startswith("Variant a (90.0 ± 5.0) and variant b")
    with pytest.raises(ValueError, match="at least 2 seeds"):
        compare(a[:1], b)


def test_welch_t_test_hand_computed() -> None:
    # s = 0.01 and 0.02 over 3 seeds: SE^2 = 1e-4/3 + 4e-4/3, df = (5/3)^2 / ((1/3)^2/2 + (4/3)^2/2)
    a = fake_runs("A", [0.90, 0.91, 0.92])
    b = fake_runs("B", [0.84, 0.86, 0.88])
    c = compare(a, b)
    assert c.t == pytest.approx(0.05 / (5e-4 / 3) ** 0.5)
    assert c.df == pytest.approx((5 / 3) ** 2 / ((1 / 3) ** 2 / 2 + (4 / 3) ** 2 / 2))
    # with df = 2 the two-sided p-value has a closed form: 1 - t / sqrt(2 + t^2)
    assert t_two_sided_p(3.0, 2.0) == pytest.approx(1 - 3 / (2 + 9) ** 0.5, rel=1e-12)
    assert t_critical(2.0) == pytest.approx(4.302652729749464, rel=1e-9)
    # df = 1 is the Cauchy distribution: p = 1 - 2 atan(t) / pi
    assert t_two_sided_p(2.0, 1.0) == pytest.approx(1 - 2 * math.atan(2.0) / math.pi, rel=1e-12)


def test_welch_t_test_against_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    a = fake_runs("A", [0.951, 0.962, 0.944])
    b = fake_runs("B", [0.931, 0.948, 0.929, 0.940])
    c = compare(a, b)
    ref = stats.ttest_ind([r.test_accuracy for r in a], [r.test_accuracy for r in b],
                          equal_var=False)
    assert c.t == pytest.approx(ref.statistic, rel=1e-10)
    assert c.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    for t, df in [(0.3, 1.2), (2.8, 4.0), (2.0, 30.0), (12.0, 3.5)]:
        assert t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(t, df), rel=1e-9)
    for df in (1.5, 3.7, 4.0, 50.0):
        assert t_critical(df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-9)


def test_welch_three_seeds_needs_more_than_two_standard_errors() -> None:
    # the case of the issue: a gap of 1.2 points with 2 SE = 1.0 is not significant at df ~ 4
    c = Comparison("A", "B", 0.972, 0.006, 0.960, 0.006, 3, 3)
    assert abs(c.difference) > 2 * c.stderr and not c.exceeds_noise
    assert c.threshold == pytest.approx(t_critical(c.df) * c.stderr)
    assert "not significant" in c.sentence()
    with pytest.raises(ValueError, match="df must be > 0"):
        t_two_sided_p(1.0, 0.0)
    with pytest.raises(ValueError, match="level must be in"):
        compare(fake_runs("A", [0.1, 0.2]), fake_runs("B", [0.1, 0.2]), level=1.5)


@pytest.fixture(scope="module")
def digits8():
    return get_dataset("digits", image_size=8)


def test_run_seeds_is_reproducible_and_seed_dependent(digits8) -> None:
    def build() -> nn.Module:
        return tiny_efficientnet(se_reduction=4, repeats=1)

    runs = run_seeds(build, digits8, seeds=(0, 1), epochs=1, batch_size=256, device="cpu")
    again = run_seeds(build, digits8, seeds=(0,), epochs=1, batch_size=256, device="cpu")
    assert [r.seed for r in runs] == [0, 1]
    for key in ("train_loss", "test_loss", "test_accuracy"):
        assert runs[0].history[0][key] == again[0].history[0][key]
    assert runs[0].history[0]["train_loss"] != runs[1].history[0]["train_loss"]
    assert runs[0].params == trainable(runs[0].model)


def test_se_gates_per_class(digits8) -> None:
    torch.manual_seed(0)
    net = tiny_efficientnet(se_reduction=4, repeats=1)
    x, y = digits8[1].tensors()
    gates = se_gates_per_class(net, x, y, batch_size=100)
    names = [n for n, m in net.named_modules() if isinstance(m, SqueezeExcitation)]
    assert list(gates) == names
    first = net.get_submodule(names[0])
    assert gates[names[0]].shape == (10, first.channels)
    assert torch.all((gates[names[0]] > 0) & (gates[names[0]] < 1))
    # class 3's row is the mean gate over the class-3 images, computed directly
    net.eval()
    with torch.no_grad(), record_se_gates(net) as recorded:
        net(x[y == 3])
    assert torch.allclose(gates[names[0]][3], recorded[names[0]].mean(0), atol=1e-5)
    with pytest.raises(ValueError, match="no SqueezeExcitation"):
        se_gates_per_class(tiny_mobilenet_v2(), x, y)


# --------------------------------------------------------------------------------------------
# Chapter 7's study: variants, matching, gate statistics, deterministic runs, the store
# --------------------------------------------------------------------------------------------
def test_docstring_resolutions_are_the_feature_maps() -> None:
    """ExperimentNet's stages run at 32, 16 and 8 pixels on the 32 x 32 canvases."""
    sizes = []
    net = VARIANTS["en"].build().eval()
    hooks = [b.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
             for b in net.blocks]
    net(torch.randn(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert sorted(set(sizes), reverse=True) == [32, 16, 8]


def test_fused_variants_are_fused_match_picks() -> None:
    for name, target in (("fused_params", "params"), ("fused_macs", "macs")):
        ratios, achieved = fused_match(target)
        assert dict(VARIANTS[name].options)["expand_ratios"] == ratios
        assert abs(achieved - 1) < 0.03  # matched within 3 %
    costs_en = network_costs(VARIANTS["en"].build())
    for name, key in (("fused_params", "params"), ("fused_macs", "macs")):
        net = VARIANTS[name].build()
        assert sum(isinstance(b, FusedMBConv) for b in net.blocks) == 3  # stages 1 and 2
        assert network_costs(net)[key] == pytest.approx(costs_en[key], rel=0.03)
    with pytest.raises(ValueError, match="fused_match: target must be"):
        fused_match("latency")


def test_comparisons_name_existing_variants() -> None:
    names = set(VARIANTS) | {experiments.GATES_FIRST, experiments.GATES_LAST}
    for name, (a, b, matched) in COMPARISONS.items():
        assert a in names and b in names and matched, name
    assert experiments.GATE_VARIANT in VARIANTS


def test_gate_statistics_class_share() -> None:
    torch.manual_seed(0)
    net = tiny_efficientnet(se_reduction=4, repeats=1).eval()
    for m in net.modules():  # every gate sigmoid(0) = 0.5 whatever the input: share 0
        if isinstance(m, SqueezeExcitation):
            nn.init.zeros_(m.fc2.weight)
            nn.init.zeros_(m.fc2.bias)
    x = torch.randn(40, 3, 16, 16)
    y = torch.arange(40) % 10
    flat = gate_statistics(net, x, y, batch_size=16)
    assert all(s["class_share"] == 0.0 and s["mean"] == pytest.approx(0.5) for s in flat.values())
    # inputs that differ only by class: class-mean gates differ, the share is large
    torch.manual_seed(0)
    net = tiny_efficientnet(se_reduction=4, repeats=1).eval()
    x = torch.stack([torch.full((3, 16, 16), float(c) - 4.5) for c in y.tolist()])
    shares = gate_statistics(net, x, y)
    assert all(s["class_share"] == pytest.approx(1.0) for s in shares.values())
    # the class means agree with se_gates_per_class
    means = se_gates_per_class(net, x, y)
    for name, s in shares.items():
        assert torch.allclose(s["class_means"], means[name], atol=1e-5)
    with pytest.raises(ValueError, match="gate_statistics: the model has no"):
        gate_statistics(tiny_mobilenet_v2(), x, y)


TINY = StudyConfig(n_train=64, n_test=48, epochs=1, batch_size=32, seeds=(0, 1))


def test_train_one_is_deterministic_and_leaves_torch_as_it_was() -> None:
    threads = torch.get_num_threads()
    a = train_one("en_se16", 0, TINY, keep_hits=True, keep_gate_means=True)
    b = train_one("en_se16", 0, TINY)
    c = train_one("en_se16", 1, TINY)
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
    for key in ("correct", "train_loss", "init_checksum", "train_sha256", "gate_share"):
        assert a[key] == b[key], key
    assert a["train_sha256"] != c["train_sha256"] and a["init_checksum"] != c["init_checksum"]
    hits = unpack_hits(a["hits"], a["n_test"])
    assert hits.sum() == a["correct"] and a["test_accuracy"] == pytest.approx(hits.mean())
    assert len(a["gate_means"]) == 2 and len(next(iter(a["gate_means"].values()))) == 10
    with pytest.raises(ValueError, match="train_one: unknown variant"):
        train_one("resnet", 0, TINY)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("study") / "ch7.json"
    study = run_study(TINY, variants=["mv2", "mv2_relu6", "en", "en_se16"], out=out,
                      command="pytest")
    assert load_study(path=out)["runs"] == study["runs"]
    return study


def test_run_study_stores_provenance_and_every_run(tiny_study) -> None:
    p = tiny_study["provenance"]
    assert p["command"] == "pytest" and "commit" in p and p["versions"]["torch"]
    assert p["machine"]["threads"] == 1 and p["machine"]["cpu"]
    assert len(tiny_study["runs"]) == 4 * 2
    assert {(r["variant"], r["seed"]) for r in tiny_study["runs"]} == {
        (v, s) for v in ("mv2", "mv2_relu6", "en", "en_se16") for s in (0, 1)}
    assert tiny_study["variants"]["en"]["params"] == network_costs(VARIANTS["en"].build())["params"]
    assert len(tiny_study["data"]["test_sha256"]) == 64
    assert sum("hits" in r for r in tiny_study["runs"]) == 4  # the first seed of each


def test_run_study_resumes(tiny_study, tmp_path: Path) -> None:
    partial = {**tiny_study, "runs": tiny_study["runs"][:5]}
    calls = []
    monkey = experiments._train_task

    def counting(task):
        calls.append(task[:2])
        return monkey(task)

    experiments._train_task = counting
    try:
        again = run_study(TINY, variants=["mv2", "mv2_relu6", "en", "en_se16"],
                          resume=partial, out=tmp_path / "x.json")
    finally:
        experiments._train_task = monkey
    assert len(calls) == 3 and len(again["runs"]) == 8


def test_analyse_study_pairs_seeds_and_adjusts(tiny_study) -> None:
    analysis = analyse_study(tiny_study)
    assert analysis.seeds == (0, 1)
    assert set(analysis.tests) == {"linear vs ReLU6", "SE r = 16 vs none",
                                   "SE gates: last vs first module"}
    test = analysis.tests["linear vs ReLU6"]
    by = {(r["variant"], r["seed"]): r["test_accuracy"] for r in tiny_study["runs"]}
    assert test.differences == pytest.approx([by[("mv2", s)] - by[("mv2_relu6", s)]
                                              for s in (0, 1)])
    assert test.family_size == 3
    assert len(analysis.gate_shares) == len(
        [m for m in VARIANTS["en_se16"].build().modules() if isinstance(m, SqueezeExcitation)])


def test_reproduction_errors_say_what_differs(tiny_study) -> None:
    runs = [r for r in tiny_study["runs"] if r["variant"] == "mv2"]
    same = [dict(r) for r in runs]
    assert reproduction_errors(tiny_study, same, same_machine=True) == []
    assert reproduction_errors(tiny_study, same, same_machine=False) == []
    off = dict(runs[0], correct=runs[0]["correct"] + 1)
    assert "must be equal" in reproduction_errors(tiny_study, [off], same_machine=True)[0]
    drift = dict(runs[0], test_accuracy=runs[0]["test_accuracy"] + 0.5)
    (error,) = reproduction_errors(tiny_study, [drift], same_machine=False)
    assert "seed standard deviations" in error and "from the stored mean" in error
    first = dict(runs[0], train_loss=[runs[0]["train_loss"][0] * 1.1])
    (error,) = reproduction_errors(tiny_study, [first], same_machine=False)
    assert "first-epoch loss" in error
    wrong_data = dict(runs[0], train_sha256="0" * 64)
    assert "training canvases differ" in reproduction_errors(tiny_study, [wrong_data], True)[0]
    wrong_init = dict(runs[0], init_checksum=runs[0]["init_checksum"] + 1)
    assert "initial weights differ" in reproduction_errors(tiny_study, [wrong_init], True)[0]


def test_load_study_rejects_files_it_cannot_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1}')
    with pytest.raises(ValueError, match="lacks"):
        load_study(path=bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        load_study(path=bad)
    with pytest.raises(FileNotFoundError, match=r"find_stored: nothing\.json is not in"):
        experiments.stored.find_stored("nothing.json", download=False)
