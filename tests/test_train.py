"""mbcourse.training.train: the loop, schedules and precision, the command line, torchrun + DDP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from mbcourse.runtime import seed_everything
from mbcourse.training.data import TensorLoader, get_dataset
from mbcourse.training.train import (
    TrainConfig,
    evaluate,
    fit,
    main,
    make_optimizer,
    make_scheduler,
    parameter_checksum,
    resolve_amp,
)

ROOT = Path(__file__).resolve().parents[1]


def small_cnn() -> nn.Module:
    """``(N, 3, 8, 8) -> (N, 10)``: enough to learn the digits in a few epochs."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )


@pytest.fixture(scope="module")
def digit_tensors() -> tuple[torch.Tensor, ...]:
    train, test = get_dataset("digits", image_size=8)
    return (*train.tensors(), *test.tensors())


def loaders(tensors: tuple[torch.Tensor, ...], batch_size: int = 64, seed: int = 0):
    x, y, xt, yt = tensors
    return (TensorLoader(x, y, batch_size, shuffle=True, seed=seed),
            TensorLoader(xt, yt, 512))


def test_fit_learns_and_records_history(digit_tensors) -> None:
    seed_everything(0)
    model = small_cnn()
    history = fit(model, *loaders(digit_tensors), epochs=4, lr=1e-2, device="cpu")
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    keys = {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "time", "samples"}
    assert keys <= set(history[0])
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_accuracy"] > 0.6  # chance is 0.1
    assert all(h["samples"] == len(digit_tensors[1]) for h in history)
    lrs = [h["lr"] for h in history]
    assert lrs[0] == pytest.approx(1e-2) and lrs == sorted(lrs, reverse=True)  # cosine decay
    assert all(h["time"] > 0 for h in history)
    scores = evaluate(model, loaders(digit_tensors)[1], "cpu")
    assert scores["accuracy"] == pytest.approx(history[-1]["test_accuracy"])


def test_fit_is_deterministic_given_the_seed(digit_tensors) -> None:
    runs = []
    for seed in (0, 0, 1):
        seed_everything(seed)
        model = small_cnn()
        history = fit(model, *loaders(digit_tensors, seed=seed), epochs=1, device="cpu")
        runs.append((history[-1]["train_loss"], parameter_checksum(model)))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("schedule", ["onecycle", "constant"])
def test_optimizers_schedules_and_channels_last(digit_tensors, optimizer, schedule) -> None:
    seed_everything(0)
    history = fit(small_cnn(), *loaders(digit_tensors), epochs=2, optimizer=optimizer,
                  schedule=schedule, channels_last=True, device="cpu")
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history)
    if schedule == "constant":
        assert history[0]["lr"] == history[1]["lr"]


def test_onecycle_warms_up_then_anneals() -> None:
    model = nn.Linear(2, 2)
    opt = make_optimizer(model, "sgd", lr=0.5)
    sched = make_scheduler(opt, "onecycle", total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = max(range(100), key=lrs.__getitem__)
    assert 20 <= peak <= 40 and max(lrs) == pytest.approx(0.5, rel=1e-3)
    assert lrs[0] < 0.05 and lrs[-1] < 1e-3


def test_no_weight_decay_on_norm_and_bias() -> None:
    model = small_cnn()
    opt = make_optimizer(model, "adamw", weight_decay=0.1)
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() > 1 for p in decayed["params"])
    assert all(p.dim() == 1 for p in plain["params"])
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))


def test_amp_resolution_on_cpu() -> None:
    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu) is None
    assert resolve_amp(False, cpu) is None
    with pytest.raises(ValueError, match="amp='bf16' needs a CUDA device"):
        resolve_amp("bf16", cpu)
    with pytest.raises(ValueError, match="amp must be one of"):
        resolve_amp("half", cpu)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("amp", ["bf16", "fp16", "off"])
def test_fit_on_cuda_with_amp(digit_tensors, amp) -> None:
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("no bfloat16 on this GPU")
    seed_everything(0)
    model = small_cnn()
    history = fit(model, *loaders(digit_tensors), epochs=3, lr=1e-2, device="cuda", amp=amp,
                  channels_last=True)
    assert next(model.parameters()).device.type == "cuda"
    assert history[-1]["test_accuracy"] > 0.5


def test_fit_rejects_bad_arguments(digit_tensors) -> None:
    train_loader, test_loader = loaders(digit_tensors)
    with pytest.raises(ValueError, match="fit: epochs must be a positive integer"):
        fit(small_cnn(), train_loader, test_loader, epochs=0)
    with pytest.raises(ValueError, match="make_optimizer: name must be one of"):
        fit(small_cnn(), train_loader, test_loader, epochs=1, optimizer="lamb")
    with pytest.raises(ValueError, match="make_scheduler: name must be one of"):
        fit(small_cnn(), train_loader, test_loader, epochs=1, schedule="step")
    with pytest.raises(ValueError, match="lr must be positive"):
        fit(small_cnn(), train_loader, test_loader, epochs=1, lr=0.0)


def test_fit_takes_a_config_and_options_replace_its_fields(digit_tensors) -> None:
    config = TrainConfig(epochs=1, lr=1e-2, schedule="constant")
    seed_everything(0)
    from_config = fit(small_cnn(), *loaders(digit_tensors), config, device="cpu")
    seed_everything(0)
    from_options = fit(small_cnn(), *loaders(digit_tensors), epochs=1, lr=1e-2,
                       schedule="constant", device="cpu")
    assert from_config[-1]["train_loss"] == from_options[-1]["train_loss"]
    seed_everything(0)
    two = fit(small_cnn(), *loaders(digit_tensors), config, device="cpu", epochs=2)
    assert [h["epoch"] for h in two] == [1, 2] and two[0]["lr"] == two[1]["lr"] == 1e-2
    with pytest.raises(TypeError, match=r"fit: unknown option\(s\) \['epoch'\]"):
        fit(small_cnn(), *loaders(digit_tensors), epoch=1)


def test_fit_stops_on_a_diverging_loss(digit_tensors) -> None:
    seed_everything(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(model, *loaders(digit_tensors), epochs=3, optimizer="sgd", lr=1e30,
            schedule="constant", device="cpu")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
TINY = ["--model", "mobilenet_v2", "--stages", "2", "--image-size", "8", "--epochs", "1",
        "--batch-size", "64", "--no-progress"]


def test_cli_single_process(tmp_path: Path, capsys) -> None:
    out = tmp_path / "metrics.json"
    history = main([*TINY, "--metrics-out", str(out), "--device", "cpu"])
    assert len(history) == 1
    saved = json.loads(out.read_text())
    assert saved["world_size"] == 1 and saved["history"] == history
    assert saved["args"]["model"] == "mobilenet_v2"
    assert "done: mobilenet_v2 on digits, 1 process(es)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "resnet50"], "argument --model: invalid choice: 'resnet50'"),
        (["--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
        (["--batch-size", "0"], "argument --batch-size: must be a positive integer, got '0'"),
        (["--epochs", "-1"], "argument --epochs: must be a positive integer"),
        (["--lr", "0"], "argument --lr: must be a positive number"),
    ],
)
def test_cli_rejects_bad_arguments(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_missing_data_directory(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "no-data-here"
    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", "cifar10", "--data-root", str(missing), "--no-progress"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "download=True" in err


def test_cli_model_option_the_model_lacks(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*TINY, "--depth-mult", "0.5"])  # MobileNetV2 has no depth multiplier
    assert exit_info.value.code == 2
    assert "--model mobilenet_v2" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_cpu_processes_agree(tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which(
        "torchrun")
    if torchrun is None:
        pytest.skip("torchrun not found")
    out = tmp_path / "ddp.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    command = [torchrun, "--standalone", "--nproc_per_node=2", "-m", "mbcourse.training.train",
               *TINY, "--device", "cpu", "--metrics-out", str(out)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.count("done: mobilenet_v2 on digits, 2 process(es)") == 1  # rank 0
    saved = json.loads(out.read_text())
    assert saved["world_size"] == 2
    ranks = saved["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert ranks[0]["param_checksum"] == ranks[1]["param_checksum"]  # replicas in sync
    n_train = saved["history"][0]["samples"]
    assert n_train == len(get_dataset("digits", image_size=8)[0])  # both shards together
    assert ranks[0]["train_batches"] == ranks[1]["train_batches"] == -(-(n_train // 2) // 64)
