"""A compact training loop, usable from Python, from the shell, and under ``torchrun``.

From Python::

    history = fit(model, train_loader, test_loader, epochs=5, optimizer="adamw")
    history[-1]  # {"epoch": 5, "train_loss": ..., "test_accuracy": ..., "lr": ..., "time": ...}

From the shell (single process, or one process per GPU/CPU slot with DistributedDataParallel)::

    python -m mbcourse.training.train --model mobilenet_v2 --width-mult 0.25 --dataset digits \
        --epochs 3
    torchrun --nproc_per_node=2 -m mbcourse.training.train --model mobilenet_v2 --dataset digits

The loop: AdamW or SGD (no weight decay on BatchNorm and bias), a per-step cosine or one-cycle
schedule, automatic mixed precision on CUDA (bfloat16 where supported, else float16 with a
gradient scaler), optional channels-last memory format, and a history with one dict per epoch.
Under ``torchrun`` (gloo on CPU, NCCL on GPU) each process trains on its shard, gradients are
averaged by DDP, metrics are summed over processes and only rank 0 prints.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ..runtime import autocast, pick_device, seed_everything
from ..validation import check_int
from .data import DATASETS, get_loaders

__all__ = [
    "AMP_MODES",
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainConfig",
    "evaluate",
    "fit",
    "main",
    "make_optimizer",
    "make_scheduler",
    "parameter_checksum",
    "resolve_amp",
]

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "onecycle", "constant")
AMP_MODES = ("auto", "off", "bf16", "fp16")
DEFAULT_LR = {"adamw": 2e-3, "sgd": 0.1}
DEFAULT_WEIGHT_DECAY = {"adamw": 0.05, "sgd": 5e-4}

History = list[dict[str, float]]


def _choice(func: str, name: str, value: object, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value.lower() not in options:
        raise ValueError(f"{func}: {name} must be one of {tuple(options)}, got {value!r}")
    return value.lower()


# --------------------------------------------------------------------------------------------
# Optimizer, schedule, precision
# --------------------------------------------------------------------------------------------
def make_optimizer(
    model: nn.Module,
    name: str = "adamw",
    lr: float | None = None,
    weight_decay: float | None = None,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """AdamW or SGD (Nesterov momentum). Weight decay applies to conv/linear weights only, not
    to BatchNorm scales/shifts or biases (1-D tensors), the usual practice for these networks."""
    name = _choice("make_optimizer", "name", name, OPTIMIZERS)
    lr = DEFAULT_LR[name] if lr is None else lr
    weight_decay = DEFAULT_WEIGHT_DECAY[name] if weight_decay is None else weight_decay
    if not lr > 0:
        raise ValueError(f"make_optimizer: lr must be positive, got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0},
    ]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr)


def make_scheduler(
    optimizer: torch.optim.Optimizer, name: str, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A schedule stepped once per batch over ``total_steps``: ``"cosine"`` decays from the
    optimizer's lr to 0, ``"onecycle"`` warms up for 30% then anneals (peak = the lr),
    ``"constant"`` keeps it."""
    name = _choice("make_scheduler", "name", name, SCHEDULES)
    total_steps = max(1, total_steps)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if name == "onecycle":
        peaks = [group["lr"] for group in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peaks, total_steps=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def resolve_amp(amp: str | bool, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (``None``: full float32).

    ``"auto"``: bfloat16 on a CUDA device that supports it, else float16 on CUDA, off on CPU.
    """
    if isinstance(amp, bool):
        amp = "auto" if amp else "off"
    amp = _choice("fit", "amp", amp, AMP_MODES)
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if device.type != "cuda":
        raise ValueError(f"fit: amp={amp!r} needs a CUDA device, got device {device}")
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


# --------------------------------------------------------------------------------------------
# Distributed helpers (no-ops in a single process)
# --------------------------------------------------------------------------------------------
def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _rank() -> int:
    return dist.get_rank() if _distributed() else 0


def _sum_over_ranks(values: Sequence[float], device: torch.device) -> list[float]:
    """Sum a few numbers over all processes (float64; identity without a process group)."""
    if not _distributed():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _sync_buffers(model: nn.Module) -> None:
    """Give every process rank 0's BatchNorm statistics, so that evaluation agrees."""
    if _distributed():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def parameter_checksum(model: nn.Module) -> float:
    """``sum_i (i + 1) * sum(p_i)`` over the parameters in float64: equal on every rank of a
    DDP job when the replicas are in sync (a cheap fingerprint, not a hash)."""
    total = 0.0
    for i, p in enumerate(model.parameters()):
        total += (i + 1) * p.detach().double().sum().item()
    return total


# --------------------------------------------------------------------------------------------
# One pass over the data
# --------------------------------------------------------------------------------------------
def _to_device(
    x: Tensor, y: Tensor, device: torch.device, channels_last: bool
) -> tuple[Tensor, Tensor]:
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    x = x.to(device, non_blocking=True, memory_format=memory_format)
    return x, y.to(device, non_blocking=True)


@dataclass
class _Tally:
    """Summed loss, correct predictions and samples of one pass (over all processes once
    :meth:`reduced`)."""

    loss_sum: float = 0.0
    correct: float = 0.0
    count: float = 0.0

    def add(self, loss_sum: float, logits: Tensor, y: Tensor) -> None:
        self.loss_sum += loss_sum
        self.correct += (logits.argmax(1) == y).sum().item()
        self.count += y.numel()

    def reduced(self, device: torch.device) -> _Tally:
        return _Tally(*_sum_over_ranks([self.loss_sum, self.correct, self.count], device))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Tensor]],
    device: torch.device | str | None = None,
    *,
    amp: str | bool = "auto",
    channels_last: bool = False,
) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` over ``loader`` (summed over processes)."""
    device = pick_device() if device is None else torch.device(device)
    dtype = resolve_amp(amp, device)
    model.eval()
    tally = _Tally()
    for x, y in loader:
        x, y = _to_device(x, y, device, channels_last)
        with autocast(device, dtype):
            logits = model(x)
        tally.add(nn.functional.cross_entropy(logits.float(), y, reduction="sum").item(),
                  logits, y)
    tally = tally.reduced(device)
    if tally.count == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    return {"loss": tally.loss_sum / tally.count, "accuracy": tally.correct / tally.count}


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """How :func:`fit` trains (each field's default is fit's).

    ``optimizer``: one of :data:`OPTIMIZERS` (``lr`` / ``weight_decay`` ``None``: its default
    in :data:`DEFAULT_LR` / :data:`DEFAULT_WEIGHT_DECAY`); ``schedule``: one of
    :data:`SCHEDULES`, stepped per batch; ``amp``: one of :data:`AMP_MODES` (see
    :func:`resolve_amp`); ``channels_last`` memory format; ``label_smoothing`` of the loss;
    ``progress`` (a tqdm bar) and ``verbose`` (a line per epoch), both on rank 0 only.
    Taught in chapter 7 (book/07_experiments.ipynb).
    """

    epochs: int = 5
    optimizer: str = "adamw"
    lr: float | None = None
    weight_decay: float | None = None
    schedule: str = "cosine"
    amp: str | bool = "auto"
    channels_last: bool = False
    label_smoothing: float = 0.0
    progress: bool = False
    verbose: bool = False


@dataclass
class _Trainer:
    """What one :func:`fit` call trains with: the (possibly DDP-wrapped) network and its
    optimizer, per-step schedule, gradient scaler, loss and precision."""

    model: nn.Module
    net: nn.Module
    device: torch.device
    dtype: torch.dtype | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    config: TrainConfig


def _resolve_config(config: TrainConfig | None, options: dict[str, Any]) -> TrainConfig:
    """``config`` (default :class:`TrainConfig`) with ``options`` replacing its fields."""
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"fit: unknown option(s) {unknown}; TrainConfig fields: {sorted(names)}")
    config = replace(config or TrainConfig(), **options)
    epochs = config.epochs
    check_int("fit", "epochs", epochs)
    return config


def _steps_per_epoch(train_loader: Iterable[tuple[Tensor, Tensor]]) -> int:
    steps = len(train_loader)  # type: ignore[arg-type]
    if steps == 0:
        raise ValueError("fit: train_loader yields no batches (is batch_size > dataset size "
                         "with drop_last?)")
    return steps


def _make_trainer(
    model: nn.Module, device: torch.device, config: TrainConfig, total_steps: int
) -> _Trainer:
    """Move ``model`` to ``device`` (and memory format), wrap it in DDP inside a process group,
    and build the optimizer, schedule, scaler and loss."""
    dtype = resolve_amp(config.amp, device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    net: nn.Module = model
    if _distributed() and not isinstance(model, DistributedDataParallel):
        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    optimizer = make_optimizer(model, config.optimizer, config.lr, config.weight_decay)
    return _Trainer(
        model, net, device, dtype, optimizer,
        make_scheduler(optimizer, config.schedule, total_steps),
        torch.amp.GradScaler("cuda", enabled=dtype == torch.float16),
        nn.CrossEntropyLoss(label_smoothing=config.label_smoothing),
        config,
    )


def _set_epoch(train_loader: object, epoch: int) -> None:
    """Tell a sharding loader (or its sampler) the epoch, so that each epoch reshuffles."""
    for maybe in (train_loader, getattr(train_loader, "sampler", None)):
        if hasattr(maybe, "set_epoch"):
            maybe.set_epoch(epoch)


def _train_epoch(
    trainer: _Trainer, train_loader: Iterable[tuple[Tensor, Tensor]], bar: Any
) -> _Tally:
    """One pass over ``train_loader``: forward under autocast, scaled backward, optimizer and
    schedule step per batch. Returns the tally summed over processes."""
    t = trainer
    t.net.train()
    tally = _Tally()
    for x, y in train_loader:
        x, y = _to_device(x, y, t.device, t.config.channels_last)
        with autocast(t.device, t.dtype):
            logits = t.net(x)
            loss = t.criterion(logits.float(), y)
        t.optimizer.zero_grad(set_to_none=True)
        t.scaler.scale(loss).backward()
        t.scaler.step(t.optimizer)
        t.scaler.update()
        t.scheduler.step()
        tally.add(loss.item() * y.numel(), logits, y)
        bar.update(1)
    return tally.reduced(t.device)


def _epoch_record(
    trainer: _Trainer,
    epoch: int,
    tally: _Tally,
    test_loader: Iterable[tuple[Tensor, Tensor]] | None,
) -> dict[str, float]:
    """The epoch's history entry (without ``lr`` and ``time``); stops on a diverged loss."""
    if not math.isfinite(tally.loss_sum):
        raise FloatingPointError(
            f"fit: the training loss became {tally.loss_sum} in epoch {epoch} "
            f"(lr={trainer.optimizer.param_groups[0]['lr']:g}); lower the learning rate"
        )
    record = {"epoch": epoch, "train_loss": tally.loss_sum / tally.count,
              "train_accuracy": tally.correct / tally.count}
    if test_loader is not None:
        _sync_buffers(trainer.model)
        scores = evaluate(trainer.model, test_loader, trainer.device, amp=trainer.config.amp,
                          channels_last=trainer.config.channels_last)
        record |= {"test_loss": scores["loss"], "test_accuracy": scores["accuracy"]}
    return record


def fit(
    model: nn.Module,
    train_loader: Iterable[tuple[Tensor, Tensor]],
    test_loader: Iterable[tuple[Tensor, Tensor]] | None = None,
    config: TrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    **options: Any,
) -> History:
    """Train ``model`` in place and return its history, one dict per epoch.

    ``config`` (a :class:`TrainConfig`; default ``TrainConfig()``) says how; keyword
    ``options`` replace its fields (``fit(model, train, test, epochs=3, lr=1e-2)``). Each dict
    holds ``epoch``, ``train_loss``, ``train_accuracy`` (on the fly, in train mode),
    ``test_loss``, ``test_accuracy`` (if ``test_loader``), ``lr`` (at the epoch's start),
    ``time`` (seconds for the epoch, evaluation included) and ``samples`` (training samples seen
    by all processes). Inside a ``torch.distributed`` process group the model is wrapped in
    ``DistributedDataParallel`` and the loaders are expected to shard the data (see
    :func:`mbcourse.training.data.get_loaders`, ``distributed=True``).
    Taught in chapter 7 (book/07_experiments.ipynb).
    """
    config = _resolve_config(config, options)
    steps = _steps_per_epoch(train_loader)
    device = pick_device() if device is None else torch.device(device)
    trainer = _make_trainer(model, device, config, config.epochs * steps)
    main_process = _rank() == 0

    from tqdm import tqdm

    bar = tqdm(total=config.epochs * steps, disable=not (config.progress and main_process),
               unit="step", dynamic_ncols=True, file=sys.stderr)
    history: History = []
    for epoch in range(1, config.epochs + 1):
        _set_epoch(train_loader, epoch)
        start, lr_now = time.perf_counter(), trainer.optimizer.param_groups[0]["lr"]
        tally = _train_epoch(trainer, train_loader, bar)
        record = _epoch_record(trainer, epoch, tally, test_loader)
        record |= {"lr": lr_now, "time": time.perf_counter() - start, "samples": tally.count}
        history.append(record)
        bar.set_postfix(epoch=epoch, loss=f"{record['train_loss']:.3f}",
                        acc=f"{record.get('test_accuracy', record['train_accuracy']):.3f}")
        if config.verbose and main_process:
            bar.write(_format_record(record))
    bar.close()
    return history


def _format_record(record: dict[str, float]) -> str:
    parts = [f"epoch {record['epoch']:>3}"]
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        if key in record:
            parts.append(f"{key} {record[key]:.4f}")
    parts.append(f"lr {record['lr']:.2e}  {record['time']:.1f}s")
    return "  ".join(parts)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _model_names() -> tuple[str, ...]:
    from .. import models

    return tuple(models.list_models())


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m mbcourse.training.train`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m mbcourse.training.train",
        description="Train a small mbcourse network (single process or under torchrun).",
    )
    parser.add_argument("--model", default="mobilenet_v2", choices=_model_names())
    parser.add_argument("--width-mult", type=_positive_float, default=0.25,
                        help="channel multiplier of the network (default 0.25: CPU-sized)")
    parser.add_argument("--depth-mult", type=_positive_float, default=None,
                        help="repeat multiplier (EfficientNet models only)")
    parser.add_argument("--stages", type=_positive_int, default=None,
                        help="keep only the first N stages (CPU-sized networks)")
    parser.add_argument("--full-input", action="store_true",
                        help="keep the ImageNet strides (default: small_input=True for 32x32)")
    parser.add_argument("--dataset", default="digits", choices=DATASETS)
    parser.add_argument("--data-root", default=None, help="folder holding cifar-10-batches-py")
    parser.add_argument("--download", action="store_true", help="download CIFAR-10 if missing")
    parser.add_argument("--image-size", type=_positive_int, default=32)
    parser.add_argument("--epochs", type=_positive_int, default=3)
    parser.add_argument("--batch-size", type=_positive_int, default=128,
                        help="per process under torchrun")
    parser.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS)
    parser.add_argument("--lr", type=_positive_float, default=None)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--schedule", default="cosine", choices=SCHEDULES)
    parser.add_argument("--amp", default="auto", choices=AMP_MODES)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--metrics-out", default=None,
                        help="write the history and per-rank fingerprints as JSON (rank 0)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    return parser


def _setup_distributed(requested: str | None) -> torch.device:
    """Join the torchrun process group if ``WORLD_SIZE > 1``; the device for this process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() if requested is None else requested.startswith("cuda")
    if world_size <= 1:
        return pick_device(requested)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return device


def main(argv: Sequence[str] | None = None) -> History:
    """Run the command line; returns the history (rank 0 also prints a summary)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..models import get_model

    device = _setup_distributed(args.device)
    distributed = _distributed()
    try:
        seed_everything(args.seed)
        try:
            train_loader, test_loader = get_loaders(
                args.dataset, args.batch_size, args.data_root, args.download,
                image_size=args.image_size, seed=args.seed, num_workers=args.num_workers,
                distributed=distributed,
            )
        except (FileNotFoundError, ImportError, RuntimeError, ValueError) as error:
            parser.exit(2, f"{parser.prog}: error: {error}\n")
        kwargs: dict[str, Any] = {"num_classes": 10, "width_mult": args.width_mult,
                                  "small_input": not args.full_input}
        if args.depth_mult is not None:
            kwargs["depth_mult"] = args.depth_mult
        if args.stages is not None:
            kwargs["stages"] = args.stages
        try:
            model = get_model(args.model, **kwargs)
        except (TypeError, ValueError) as error:
            parser.exit(2, f"{parser.prog}: error: --model {args.model}: {error}\n")
        config = TrainConfig(
            epochs=args.epochs, optimizer=args.optimizer, lr=args.lr,
            weight_decay=args.weight_decay, schedule=args.schedule, amp=args.amp,
            channels_last=args.channels_last, progress=not args.no_progress, verbose=True,
        )
        history = fit(model, train_loader, test_loader, config, device=device)
        ranks = [{"rank": _rank(), "param_checksum": parameter_checksum(model),
                  "train_batches": len(train_loader)}]
        if distributed:
            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, ranks[0])
            ranks = gathered
        if _rank() == 0:
            final = history[-1]
            print(f"done: {args.model} on {args.dataset}, {len(ranks)} process(es), "
                  f"test accuracy {final['test_accuracy']:.4f}, "
                  f"{sum(r['train_batches'] for r in ranks)} training batches per epoch "
                  f"in total", flush=True)
            if args.metrics_out:
                out = Path(args.metrics_out)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(
                    {"args": vars(args), "world_size": len(ranks), "device": str(device),
                     "history": history, "ranks": ranks}, indent=2))
        return history
    finally:
        if distributed:
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
