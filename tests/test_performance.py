"""mbcourse.studies.performance and benchmarks/gpu_sweep.py: sweeps, ratios, stored GPU results."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import sys
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

from mbcourse import costs
from mbcourse.blocks import FusedMBConv, MBConv
from mbcourse.inference import calibrate_batchnorm
from mbcourse.studies.experiments import tiny_efficientnet
from mbcourse.studies.performance import (
    GPU_RESULTS_KEYS,
    achieved_fraction,
    block_pair,
    environment,
    fusion_results,
    fusion_sweep,
    load_gpu_results,
    machine_peaks,
    optimization_ratios,
    plot_ratio_grid,
    plot_speedups,
    save_results,
    speedup_results,
    train_step_sweep,
    v2s_stage_pairs,
)
from mbcourse.studies.verdicts import NOISE, Setting, speed_summary

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]


def test_block_pair_computes_same_shapes() -> None:
    pair = block_pair(16, expand_ratio=4)
    assert isinstance(pair["MBConv"], MBConv) and isinstance(pair["Fused-MBConv"], FusedMBConv)
    assert isinstance(pair["MBConv"].se, nn.Identity)  # compared without SE
    x = torch.randn(1, 16, 8, 8)
    for module in pair.values():
        assert module.eval()(x).shape == x.shape


def test_fusion_sweep_rows() -> None:
    rows = fusion_sweep((4, 8), (8, 16), device="cpu", rounds=1, min_run_time=0.001,
                        num_threads=1)
    assert [(r["width"], r["resolution"]) for r in rows] == [(8, 4), (8, 8), (16, 4), (16, 8)]
    for r in rows:
        assert r["mbconv_ms"] > 0 and r["fused_ms"] > 0
        assert r["ratio"] == pytest.approx(r["fused_ms"] / r["mbconv_ms"])
        mb = costs.mbconv(r["width"], r["width"], r["resolution"], 1, 4, se_ratio=0.0)
        fused = costs.fused_mbconv(r["width"], r["width"], r["resolution"], 1, 4)
        assert r["mac_ratio"] == pytest.approx(fused.macs / mb.macs)
        assert r["param_ratio"] > 1  # fusing adds parameters
        assert r["spread"] >= 0  # round_spread of the pair (one round: 0)


def test_optimization_ratios_on_cpu() -> None:
    model = calibrate_batchnorm(tiny_efficientnet(repeats=1), (4, 3, 16, 16), device="cpu")
    ratios = optimization_ratios(model, (1, 3, 16, 16), device="cpu", rounds=1,
                                 min_run_time=0.001, num_threads=1)
    assert list(ratios) == ["eager", "channels_last", "bn_folded", "bn_folded+channels_last"]
    assert ratios["eager"]["speedup"] == pytest.approx(1.0)
    eager_ms = ratios["eager"]["median_ms"]
    for values in ratios.values():
        assert values["median_ms"] > 0
        assert values["speedup"] == pytest.approx(eager_ms / values["median_ms"])
        assert values["spread"] >= 0
    with pytest.raises(ValueError, match="amp=True needs a CUDA device"):
        optimization_ratios(model, (1, 3, 16, 16), device="cpu", amp=True)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_optimization_ratios_on_cuda_with_amp() -> None:
    model = calibrate_batchnorm(tiny_efficientnet(repeats=1), (8, 3, 32, 32), device="cuda")
    ratios = optimization_ratios(model, (8, 3, 32, 32), device="cuda", amp=True, rounds=1,
                                 min_run_time=0.01)
    assert {"amp", "amp+channels_last"} <= set(ratios)


# --------------------------------------------------------------------------------------------
# Stored results
# --------------------------------------------------------------------------------------------
def fake_cuda_results() -> dict:
    """A structurally valid file, labelled CUDA: only for testing the reader, never stored."""
    rows = [{"resolution": r, "width": w, "batch_size": 1, "mbconv_ms": 1.0, "fused_ms": 2.0,
             "ratio": 2.0, "mac_ratio": 4.0, "param_ratio": 3.5}
            for w in (16, 32) for r in (7, 14)]
    return {"device": "test device", "device_type": "cuda", "torch": "x", "date": "today",
            "fusion_sweep": {"batch_size": 1, "dtype": "bfloat16", "rows": rows},
            "optimizations": [{"model": "m", "variant": "eager", "median_ms": 1.0,
                               "speedup": 1.0}]}


def test_results_round_trip(tmp_path: Path) -> None:
    path = save_results(tmp_path / "sub" / "gpu.json", fake_cuda_results())
    assert load_gpu_results(path) == fake_cuda_results()


def test_missing_file_means_no_results(tmp_path: Path) -> None:
    assert load_gpu_results(tmp_path / "absent.json") is None


def test_book_results_file_if_present_is_a_real_gpu_measurement() -> None:
    path = ROOT / "book" / "data" / "gpu_results.json"
    results = load_gpu_results(path)  # raises if present but not measured on CUDA
    if results is not None:
        assert results["device_type"] == "cuda" and results["fusion_sweep"]["rows"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device_type": "cpu"}, "measured on 'cpu', not on a CUDA device"),
        ({"device": None}, None),
    ],
)
def test_results_that_are_not_gpu_measurements_are_rejected(tmp_path: Path, change, message):
    data = fake_cuda_results()
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message or r"lacks \['device'\]"):
        load_gpu_results(path)


def test_invalid_json_and_incomplete_saves(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_gpu_results(path)
    with pytest.raises(ValueError, match="save_results: results lack"):
        save_results(tmp_path / "x.json", {"device": "d"})


def test_environment_fields() -> None:
    info = environment("cpu")
    assert set(GPU_RESULTS_KEYS[:4]) <= set(info)
    assert info["device_type"] == "cpu" and info["torch"] == torch.__version__


# --------------------------------------------------------------------------------------------
# benchmarks/gpu_sweep.py
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpu_sweep():
    spec = importlib.util.spec_from_file_location("gpu_sweep", ROOT / "benchmarks/gpu_sweep.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_sweep"] = module
    spec.loader.exec_module(module)
    return module


def test_gpu_sweep_dry_run_on_cpu(gpu_sweep, tmp_path: Path) -> None:
    out = tmp_path / "dry.json"
    gpu_sweep.main(["--quick", "--device", "cpu", "--out", str(out)])
    data = json.loads(out.read_text())
    assert set(GPU_RESULTS_KEYS) <= set(data) and data["device_type"] == "cpu"
    assert len(data["fusion_sweep"]["rows"]) == 4
    steps = data["train_steps"]["rows"]  # stages 1 and 4 in the dry run, both layouts, float32
    assert {(r["stage"], r["layout"], r["precision"]) for r in steps} == {
        (st, lay, "float32") for st in (1, 4) for lay in ("contiguous", "channels_last")}
    assert data["peaks"]["gmacs"] > 0 and data["provenance"]["machine"]["cpu"]
    assert {o["variant"] for o in data["optimizations"]} >= {"eager", "bn_folded"}
    with pytest.raises(ValueError, match="not on a CUDA device"):
        load_gpu_results(out)  # a dry run is never shown as GPU results


def test_gpu_sweep_refuses_the_book_file_from_cpu(gpu_sweep, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        gpu_sweep.main(["--quick", "--device", "cpu"])
    assert exit_info.value.code == 2
    assert "refusing to write" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_gpu_sweep_without_cuda(gpu_sweep, capsys) -> None:
    with pytest.raises(SystemExit):
        gpu_sweep.main(["--quick", "--out", "/tmp/never-written.json"])
    assert "no CUDA device here" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------
def test_plots_draw_every_cell_and_bar() -> None:
    import matplotlib.pyplot as plt

    results = fake_cuda_results()
    ax = plot_ratio_grid(results["fusion_sweep"]["rows"], "ratio", title="t")
    assert len(ax.texts) == 4 and {t.get_text() for t in ax.texts} == {"2.00"}
    assert ax.get_xlabel() == "input resolution (pixels)"
    optimizations = [
        {"model": m, "variant": v, "speedup": s}
        for m in ("a", "b") for v, s in (("eager", 1.0), ("channels_last", 1.3))
    ]
    ax2 = plot_speedups(optimizations)
    assert len(ax2.patches) == 4
    assert sorted(round(p.get_height(), 2) for p in ax2.patches) == [1.0, 1.0, 1.3, 1.3]
    assert ax2.get_legend() is not None and all(p.get_hatch() is None for p in ax2.patches)
    plt.close("all")


def test_spread_is_the_round_spread_of_the_timings(monkeypatch) -> None:
    from mbcourse.measure import Latency
    from mbcourse.studies import performance

    def fake_compare(modules, input_shape, **kwargs):
        times = {"MBConv": (1.0, 1.1), "Fused-MBConv": (2.0, 2.6), "eager": (4.0, 4.4),
                 "channels_last": (2.0, 2.1), "bn_folded": (3.0, 3.3),
                 "bn_folded+channels_last": (1.0, 1.5)}
        return {name: Latency(name, times[name], input_shape[0], min(times[name]))
                for name in modules}

    monkeypatch.setattr(performance, "compare_latency", fake_compare)
    (row,) = performance.fusion_sweep((8,), (8,), device="cpu")
    assert row["spread"] == pytest.approx(0.3)  # Fused-MBConv's 2.6 / 2.0 beats MBConv's 1.1
    model = tiny_efficientnet(repeats=1)
    ratios = performance.optimization_ratios(model, (1, 3, 8, 8), device="cpu")
    assert ratios["eager"]["spread"] == pytest.approx(0.1)
    assert ratios["channels_last"]["spread"] == pytest.approx(0.1)  # eager's 10 % > its 5 %
    assert ratios["bn_folded+channels_last"]["spread"] == pytest.approx(0.5)


def _grid_rows(ratios: dict[tuple[int, int], float], spread: float = 0.1) -> list[dict]:
    return [{"width": w, "resolution": r, "ratio": q, "mac_ratio": 4.0, "spread": spread}
            for (w, r), q in ratios.items()]


def _hatched_cells(ax) -> set[tuple[int, int]]:
    """(row, column) of the cells plot_ratio_grid hatched."""
    return {(round(p.get_y() + 0.5), round(p.get_x() + 0.5)) for p in ax.patches
            if p.get_hatch() == "///"}


def test_ratio_grid_hatches_only_cells_within_noise() -> None:
    import matplotlib.pyplot as plt

    from mbcourse.viz import NOISE_LABEL

    # spread 10 %: 1.05 and 1 / 1.08 are within noise, 0.5 and 1.2 are not.
    rows = _grid_rows({(16, 7): 0.5, (16, 14): 1.05, (32, 7): 1 / 1.08, (32, 14): 1.2})
    ax = plot_ratio_grid(rows, "ratio")
    assert _hatched_cells(ax) == {(0, 1), (1, 0)}  # (width 16, 14×14), (width 32, 7×7)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"{NOISE_LABEL}: 2 of 4 cells"]
    # The multiply-add map is no measurement: nothing hatched, no legend.
    ax2 = plot_ratio_grid(rows, "mac_ratio")
    assert _hatched_cells(ax2) == set() and ax2.get_legend() is None
    # Stored results from before the spread existed are drawn without marks ...
    old = [{k: v for k, v in r.items() if k != "spread"} for r in rows]
    ax3 = plot_ratio_grid(old, "ratio")
    assert _hatched_cells(ax3) == set() and ax3.get_legend() is None
    # ... unless marks are asked for, which then need the spreads.
    with pytest.raises(ValueError, match="plot_ratio_grid: mark_noise=True needs a 'spread'"):
        plot_ratio_grid(old, "ratio", mark_noise=True)
    assert _hatched_cells(plot_ratio_grid(rows, "ratio", mark_noise=False)) == set()
    plt.close("all")


def test_ratio_grid_writes_white_numbers_on_dark_cells() -> None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    rows = _grid_rows({(16, 7): 1 / 4, (16, 14): 1.0, (32, 7): 4.0, (32, 14): 1.1}, spread=0.0)
    ax = plot_ratio_grid(rows, "ratio", bound=4)
    colours = {t.get_text(): to_rgba(t.get_color()) for t in ax.texts}
    assert colours["0.25"] == colours["4.00"] == to_rgba("white")  # dark blue, dark red
    assert colours["1.00"] == colours["1.10"] == to_rgba("black")  # light grey middle
    plt.close("all")


def test_speedups_grey_only_bars_within_noise() -> None:
    import matplotlib.pyplot as plt

    from mbcourse.viz import NOISE_LABEL

    optimizations = [  # spread 10 %: channels_last (1.05) is within noise, bn_folded is not
        {"model": m, "variant": v, "speedup": s, "spread": 0.1}
        for m in ("a", "b") for v, s in (("bn_folded", 1.5), ("eager", 1.0),
                                         ("channels_last", 1.05))
    ]
    ax = plot_speedups(optimizations)
    hatched = sorted(round(p.get_height(), 2) for p in ax.patches if p.get_hatch() == "///")
    assert hatched == [1.05, 1.05]  # never eager's 1.0, never bn_folded's 1.5
    ticks = [t.get_text() for t in ax.xaxis.get_ticklabels()]
    assert ticks == ["eager", "bn_folded", "channels_last"]  # the reference first
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", NOISE_LABEL]
    plt.close("all")


@pytest.mark.slow
def test_optimization_ratios_with_torch_compile_on_cpu() -> None:
    model = calibrate_batchnorm(tiny_efficientnet(repeats=1), (4, 3, 8, 8), device="cpu")
    ratios = optimization_ratios(model, (1, 3, 8, 8), device="cpu", compile=True, rounds=1,
                                 min_run_time=0.001, num_threads=1)
    assert ratios["compiled"]["median_ms"] > 0


# --------------------------------------------------------------------------------------------
# Verdict inputs, peaks, the training-step sweep
# --------------------------------------------------------------------------------------------
def test_fusion_and_speedup_results() -> None:
    rows = [{"width": 16, "resolution": 7, "ratio": 0.6, "spread": 0.1},
            {"width": 32, "resolution": 14, "ratio": 1.02, "spread": 0.1}]
    results = fusion_results(rows)
    assert [r.label for r in results] == ["C = 16 at 7×7", "C = 32 at 14×14"]
    assert [r.outcome for r in results] == ["faster", NOISE]
    optimizations = [{"model": "a", "variant": "bn_folded", "speedup": 2.0, "spread": 0.1},
                     {"model": "b", "variant": "bn_folded", "speedup": 1.0, "spread": 0.1},
                     {"model": "a", "variant": "eager", "speedup": 1.0, "spread": 0.1}]
    (fast, same) = speedup_results(optimizations, "bn_folded")
    assert fast.ratio == 0.5 and fast.outcome == "faster" and same.outcome == NOISE
    with pytest.raises(ValueError, match="speedup_results: no rows for variant"):
        speedup_results(optimizations, "compiled")


def test_achieved_fraction_and_peaks() -> None:
    row = {"mbconv_macs": 1_000_000, "fused_macs": 4_000_000, "mbconv_ms": 1.0, "fused_ms": 2.0,
           "batch_size": 2}
    peaks = {"gmacs": 10.0}
    assert achieved_fraction(row, peaks) == pytest.approx(2e6 / 1e-3 / 1e9 / 10)
    assert achieved_fraction(row, peaks, "fused") == pytest.approx(4e6 * 2 / 2e-3 / 1e9 / 10)
    with pytest.raises(ValueError, match="achieved_fraction: block must be"):
        achieved_fraction(row, peaks, "se")
    measured = machine_peaks(device="cpu", num_threads=1, rounds=1, min_run_time=0.01,
                             matmul_size=64, copy_mib=1)
    assert measured["gmacs"] > 0 and measured["gbytes"] > 0 and measured["threads"] == 1
    assert measured["ridge"] == pytest.approx(measured["gmacs"] / measured["gbytes"])


def test_v2s_stage_pairs_follow_the_table() -> None:
    pairs = v2s_stage_pairs(300)
    assert [p["resolution"] for p in pairs] == [150, 75, 38, 19, 19, 10]
    assert [p["channels"] for p in pairs] == [24, 48, 64, 128, 160, 256]
    assert [p["expand_ratio"] for p in pairs] == [1, 4, 4, 4, 6, 6]
    for p in pairs:
        mb, fused = p["modules"]["MBConv"], p["modules"]["Fused-MBConv"]
        assert isinstance(mb.se, nn.Module) and not isinstance(mb.se, nn.Identity)  # SE 0.25
        assert isinstance(fused.se, nn.Identity)


def test_train_step_sweep_on_cpu() -> None:
    rows = train_step_sweep(image_size=16, batch_size=2, device="cpu", stages=[1],
                            layouts=("channels_last",), rounds=1, min_run_time=0.001,
                            num_threads=1)
    (row,) = rows
    assert row["stage"] == 1 and row["layout"] == "channels_last" and row["precision"] == "float32"
    assert row["ratio"] == pytest.approx(row["fused_ms"] / row["mbconv_ms"])
    with pytest.raises(ValueError, match="train_step_sweep: layouts must be"):
        train_step_sweep(image_size=16, batch_size=1, device="cpu", layouts=("nhwc",))


# --------------------------------------------------------------------------------------------
# The built chapter's glued verdicts agree with the timings they were computed from
# --------------------------------------------------------------------------------------------
GLUE = ROOT / "_build" / "jupyter_execute" / "book" / "08_performance.glue.json"
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("MBCOURSE_REQUIRE_BROWSER") == "1"


def _glued() -> dict[str, str]:
    if not GLUE.is_file():
        message = f"{GLUE} is missing: build the book first"
        if REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    out = {}
    for name, entry in json.loads(GLUE.read_text()).items():
        data = entry["data"]
        out[name] = data.get("text/markdown", data.get("text/plain", ""))
    return out


def test_glued_speed_verdicts_follow_the_stored_spreads() -> None:
    glued = _glued()
    for key, candidate, reference, noun in (
        ("ch8_fusion", "Fused-MBConv", "MBConv", "setting"),
    ):
        data = json.loads(ast.literal_eval(glued[f"{key}_data"]))
        setting = Setting(**data["setting"])
        results = fusion_results(data["rows"])
        verdict = glued[f"{key}_verdict"]
        assert verdict == speed_summary(results, setting, candidate=candidate,
                                        reference=reference, noun=noun)
        for part in (setting.device, setting.engine, f"batch {setting.batch}"):
            assert part in verdict
        if setting.threads is not None:
            assert "thread" in verdict
        for result in results:  # a ratio within its noise is never quoted
            if result.outcome == NOISE:
                assert f"{result.label}:" not in verdict
    speedups = json.loads(ast.literal_eval(glued["ch8_speedup_data"]))
    lines = glued["ch8_speedup_verdicts"].splitlines()
    assert len(lines) == len({o["variant"] for o in speedups["rows"]}) - 1  # eager is the reference
    noisy = sum(1 / o["speedup"] > 0 and
                speedup_results([o], o["variant"])[0].outcome == NOISE
                for o in speedups["rows"] if o["variant"] != "eager")
    assert int(glued["ch8_n_speedup_noise"]) == noisy
