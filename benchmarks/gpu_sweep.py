"""Measure on a GPU what chapter 8 shows: write ``book/data/gpu_results.json``.

    python benchmarks/gpu_sweep.py                      # on a machine with a CUDA GPU
    python benchmarks/gpu_sweep.py --quick --device cpu --out /tmp/dry.json   # dry run, no GPU

Two measurements, both as ratios of latencies timed side by side in one process
(:mod:`mbcourse.studies.performance`, interleaved rounds of ``torch.utils.benchmark``):

1. ``fusion_sweep``: a stride-1 MBConv (no SE) against a Fused-MBConv of the same width and
   expansion 4, for every resolution x width, batch 32, channels-last, bf16/fp16 autocast: where
   does fusing pay on the GPU?
2. ``optimizations``: MobileNetV2, EfficientNet-B0 and EfficientNetV2-S at 224 x 224, batch 32:
   eager float32 against channels-last, BatchNorm folding, mixed precision and ``torch.compile``.
3. ``train_steps``: EfficientNetV2's own argument, a *training* step (forward and backward) of
   MBConv (with SE, as in V2's MBConv stages) against Fused-MBConv (no SE) for each of
   EfficientNetV2-S's six stages at the feature-map sizes of its 300 x 300 training images
   (150, 75, 38, 19, 19, 10), batch 32, in float32 and mixed precision, each in the default
   and the channels-last memory layout
   (:func:`mbcourse.studies.performance.train_step_sweep`).
4. ``peaks``: the device's measured matrix-product rate and copy bandwidth
   (:func:`mbcourse.studies.performance.machine_peaks`).

The file records the device, torch/CUDA/cuDNN versions, the machine, the commit and the date.
The book shows a results file only if it was measured on CUDA
(:func:`mbcourse.studies.performance.load_gpu_results`); this script refuses to write the book's
file from anything else.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from mbcourse.inference import calibrate_batchnorm
from mbcourse.models import get_model
from mbcourse.studies.performance import (
    environment,
    fusion_sweep,
    machine_peaks,
    optimization_ratios,
    save_results,
    train_step_sweep,
)
from mbcourse.studies.stored import provenance

ROOT = Path(__file__).resolve().parents[1]
BOOK_FILE = ROOT / "book" / "data" / "gpu_results.json"

FULL = {
    "resolutions": [7, 14, 28, 56, 112],
    "widths": [16, 32, 64, 128, 256],
    "sweep_batch": 32,
    "models": ["mobilenet_v2", "efficientnet_b0", "efficientnet_v2_s"],
    "model_batch": 32,
    "model_size": 224,
    "rounds": 5,
    "train_size": 300,
    "train_batch": 32,
    "train_stages": None,
    "peaks": {"matmul_size": 8192, "copy_mib": 1024},
}
QUICK = {
    "resolutions": [8, 16],
    "widths": [16, 32],
    "sweep_batch": 2,
    "models": ["mobilenet_v2"],
    "model_batch": 1,
    "model_size": 64,
    "rounds": 2,
    "train_size": 32,
    "train_batch": 2,
    "train_stages": [1, 4],
    "peaks": {"matmul_size": 128, "copy_mib": 4},
}


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=str(BOOK_FILE))
    parser.add_argument("--quick", action="store_true", help="tiny settings (dry runs, tests)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    out = Path(args.out)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.exit(2, "gpu_sweep.py: no CUDA device here; use --device cpu --out FILE for a "
                       "dry run (never the book's file)\n")
    if device.type != "cuda" and out.resolve() == BOOK_FILE.resolve():
        parser.exit(2, f"gpu_sweep.py: refusing to write {BOOK_FILE} from a {device.type} run; "
                       "pass --out elsewhere\n")
    settings = QUICK if args.quick else FULL
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    amp_dtype = None
    if device.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    started = time.perf_counter()
    print(f"fusion sweep on {device} ...", flush=True)
    sweep = fusion_sweep(
        settings["resolutions"], settings["widths"], batch_size=settings["sweep_batch"],
        device=device, channels_last=True, dtype=amp_dtype, rounds=settings["rounds"],
    )
    optimizations = []
    for name in settings["models"]:
        print(f"optimizations: {name} ...", flush=True)
        model = get_model(name, num_classes=1000)
        shape = (settings["model_batch"], 3, settings["model_size"], settings["model_size"])
        calibrate_batchnorm(model, shape, device=device)
        ratios = optimization_ratios(
            model, shape, device=device, amp=device.type == "cuda",
            compile=not args.no_compile and device.type == "cuda", rounds=settings["rounds"],
        )
        for variant, values in ratios.items():
            optimizations.append({"model": name, "input_shape": list(shape), "variant": variant,
                                  **values})
    print(f"training steps per EfficientNetV2-S stage on {device} ...", flush=True)
    train_steps = train_step_sweep(
        image_size=settings["train_size"], batch_size=settings["train_batch"], device=device,
        amp_dtype=amp_dtype, stages=settings["train_stages"], rounds=settings["rounds"],
    )
    peaks = machine_peaks(device=device, rounds=settings["rounds"], **settings["peaks"])
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python benchmarks/gpu_sweep.py", *given])
    results = {
        **environment(device),
        "command": command,
        "provenance": provenance(command),
        "seconds": round(time.perf_counter() - started, 1),
        "fusion_sweep": {
            "batch_size": settings["sweep_batch"], "expand_ratio": 4, "channels_last": True,
            "dtype": str(amp_dtype).replace("torch.", "") if amp_dtype else "float32",
            "rows": sweep,
        },
        "optimizations": optimizations,
        "train_steps": {
            "image_size": settings["train_size"], "batch_size": settings["train_batch"],
            "what": "forward + backward of mean(out**2); MBConv with SE 0.25, Fused without",
            "rows": train_steps,
        },
        "peaks": peaks,
    }
    path = save_results(out, results)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
