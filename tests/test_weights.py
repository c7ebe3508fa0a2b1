"""torchvision weights in our models: same outputs, explicit key rules, strict validation."""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping

import pytest
import torch
from optional_torchvision import needs_torchvision, tv_models
from torch import Tensor, nn

from mbcourse.models import (
    efficientnet_b0,
    efficientnet_v2_s,
    get_model,
    list_models,
    load_torchvision_weights,
    mobilenet_v2,
    torchvision_key_map,
)


def torchvision_keyed(model: nn.Module) -> dict[str, Tensor]:
    """Our model's state dict under torchvision's names (a stand-in for torchvision's)."""
    state = model.state_dict()
    return {tv: state[ours].clone() for ours, tv in torchvision_key_map(model).items()}


# ---------------------------------------------------------------- same outputs as torchvision
@needs_torchvision
@pytest.mark.parametrize("name", list_models(lite=False))
def test_outputs_equal_torchvision_with_its_weights(name: str, randomise_batchnorms) -> None:
    torch.manual_seed(0)
    theirs = tv_models.get_model(name).eval()
    randomise_batchnorms(theirs)
    torch.manual_seed(123)  # a different random init: only the loaded weights can agree
    ours = get_model(name).eval()
    assert load_torchvision_weights(ours, theirs) is ours
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = theirs(x)
        actual = ours(x)
    assert expected.std() > 1e-2  # a real signal, not a constant
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


@needs_torchvision
@pytest.mark.parametrize("width", [0.35, 0.5, 0.75, 1.3, 1.4])
def test_mobilenet_v2_width_multipliers_equal_torchvision(
    width: float, randomise_batchnorms
) -> None:
    torch.manual_seed(0)
    theirs = tv_models.mobilenet_v2(width_mult=width).eval()
    randomise_batchnorms(theirs)
    ours = load_torchvision_weights(mobilenet_v2(width_mult=width).eval(), theirs.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------- key rules, by example
def test_key_rules_by_example() -> None:
    mnet = torchvision_key_map(mobilenet_v2(width_mult=0.25))
    assert mnet["features.0.conv.weight"] == "features.0.0.weight"
    assert mnet["features.0.norm.running_mean"] == "features.0.1.running_mean"
    assert mnet["features.1.depthwise.conv.weight"] == "features.1.conv.0.0.weight"  # t = 1
    assert mnet["features.1.project.conv.weight"] == "features.1.conv.1.weight"
    assert mnet["features.2.expand.conv.weight"] == "features.2.conv.0.0.weight"
    assert mnet["features.2.project.conv.weight"] == "features.2.conv.2.weight"
    assert mnet["features.2.project.norm.running_var"] == "features.2.conv.3.running_var"
    assert mnet["classifier.1.weight"] == "classifier.1.weight"
    b0 = torchvision_key_map(efficientnet_b0(width_mult=0.25, depth_mult=0.25))
    assert b0["features.1.0.depthwise.conv.weight"] == "features.1.0.block.0.0.weight"
    assert b0["features.1.0.se.fc1.weight"] == "features.1.0.block.1.fc1.weight"
    assert b0["features.2.0.se.fc2.bias"] == "features.2.0.block.2.fc2.bias"
    assert b0["features.2.0.project.norm.weight"] == "features.2.0.block.3.1.weight"
    v2 = torchvision_key_map(efficientnet_v2_s(width_mult=0.25, depth_mult=0.25))
    assert v2["features.1.0.fused.conv.weight"] == "features.1.0.block.0.0.weight"
    assert v2["features.2.0.project.norm.weight"] == "features.2.0.block.1.1.weight"
    for mapping in (mnet, b0, v2):
        assert len(set(mapping.values())) == len(mapping)  # one-to-one


def test_round_trip_through_torchvision_names(randomise_batchnorms) -> None:
    source = efficientnet_b0(width_mult=0.25, depth_mult=0.25, num_classes=10).eval()
    randomise_batchnorms(source)
    target = efficientnet_b0(width_mult=0.25, depth_mult=0.25, num_classes=10).eval()
    load_torchvision_weights(target, torchvision_keyed(source))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)


# ------------------------------------------------------------------------ mismatched state dicts
@pytest.fixture
def small_pair() -> tuple[nn.Module, dict[str, Tensor]]:
    model = mobilenet_v2(width_mult=0.25, num_classes=10)
    return model, torchvision_keyed(mobilenet_v2(width_mult=0.25, num_classes=10))


def _unchanged(model: nn.Module, before: Mapping[str, Tensor]) -> bool:
    return all(torch.equal(t, before[k]) for k, t in model.state_dict().items())


def test_missing_key_is_named(small_pair) -> None:
    model, state = small_pair
    before = {k: t.clone() for k, t in model.state_dict().items()}
    del state["features.3.conv.2.weight"]
    with pytest.raises(ValueError, match=r"missing \(1\)") as info:
        load_torchvision_weights(model, state)
    assert "features.3.conv.2.weight (ours: features.3.project.conv.weight)" in str(info.value)
    assert _unchanged(model, before)  # nothing copied


def test_unexpected_key_is_named(small_pair) -> None:
    model, state = small_pair
    state["features.19.0.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"unexpected \(1\):\n    features\.19\.0\.weight"):
        load_torchvision_weights(model, state)


def test_wrong_shape_is_named(small_pair) -> None:
    model, state = small_pair
    state["classifier.1.weight"] = torch.zeros(1000, 1280)
    with pytest.raises(ValueError, match=r"wrong shape \(1\)") as info:
        load_torchvision_weights(model, state)
    assert "classifier.1.weight (ours: classifier.1.weight): source (1000, 1280) vs model " \
        "(10, 1280)" in str(info.value)


def test_all_problems_in_one_error(small_pair) -> None:
    model, state = small_pair
    del state["features.0.1.running_var"]
    state["features.0.2.weight"] = torch.zeros(3)
    state["classifier.1.bias"] = torch.zeros(3)
    with pytest.raises(ValueError) as info:
        load_torchvision_weights(model, state)
    message = str(info.value)
    for needle in ("missing (1)", "features.0.1.running_var", "unexpected (1)",
                   "features.0.2.weight", "wrong shape (1)", "classifier.1.bias"):
        assert needle in message


def test_a_different_architecture_does_not_fit() -> None:
    model = mobilenet_v2(width_mult=0.25)
    other = torchvision_keyed(efficientnet_b0(width_mult=0.25, depth_mult=0.25))
    with pytest.raises(ValueError, match="missing") as info:
        load_torchvision_weights(model, other)
    assert "unexpected" in str(info.value)


def test_bad_source_type() -> None:
    with pytest.raises(TypeError, match="state_dict_or_module"):
        load_torchvision_weights(mobilenet_v2(width_mult=0.25), [1, 2, 3])
    with pytest.raises(TypeError, match="features"):
        load_torchvision_weights(nn.Linear(2, 2), {})


# ------------------------------------------------------------- pretrained=True, without network
class _FakeWeights:
    def __init__(self, state: dict[str, Tensor] | Exception) -> None:
        self.state = state
        self.calls: list[dict[str, object]] = []

    def get_state_dict(self, **kwargs: object) -> dict[str, Tensor]:
        self.calls.append(kwargs)
        if isinstance(self.state, Exception):
            raise self.state
        return self.state


def _fake_torchvision(monkeypatch: pytest.MonkeyPatch, weights: _FakeWeights) -> list[str]:
    names: list[str] = []

    def get_model_weights(name: str) -> types.SimpleNamespace:
        names.append(name)
        return types.SimpleNamespace(DEFAULT=weights)

    fake = types.ModuleType("torchvision.models")
    fake.get_model_weights = get_model_weights  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torchvision.models", fake)
    return names


def test_pretrained_uses_torchvisions_weights_api(
    monkeypatch: pytest.MonkeyPatch, randomise_batchnorms
) -> None:
    reference = mobilenet_v2().eval()
    randomise_batchnorms(reference)
    weights = _FakeWeights(torchvision_keyed(reference))
    names = _fake_torchvision(monkeypatch, weights)
    model = mobilenet_v2(pretrained=True, progress=False).eval()
    assert names == ["mobilenet_v2"]
    assert weights.calls == [{"progress": False, "check_hash": True, "weights_only": True}]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


def test_pretrained_download_failure_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_torchvision(monkeypatch, _FakeWeights(OSError("no network")))
    with pytest.raises(RuntimeError, match=r"efficientnet_b0\(pretrained=True\).*no network"):
        efficientnet_b0(pretrained=True)


def test_pretrained_without_torchvision_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision.models", None)  # import fails
    with pytest.raises(ImportError, match="needs torchvision"):
        mobilenet_v2(pretrained=True)
