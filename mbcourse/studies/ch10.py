"""Chapter 10's numbers for the prose and its tables, from the studies of :mod:`.trained`.

Each ``*_facts`` function turns what one section of book/10_trained_network.ipynb computed into
a small record of strings and numbers; the chapter glues each record in a hidden cell with
``glue_facts("ch10", ...)`` (``{glue:text}`ch10_cat_top1``` in the prose). The ``*_table``
functions build the Markdown tables the chapter shows. Nothing here trains or downloads.
Taught in chapter 10 (book/10_trained_network.ipynb).
"""

from __future__ import annotations

import platform
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from IPython.display import Markdown
from torch import Tensor

from ..deploy import ort_session, run_session
from ..measure import round_spread, within_noise
from .trained import paired_difference

__all__ = [
    "bottleneck_facts",
    "folded_facts",
    "folded_table",
    "graph_facts",
    "int8_facts",
    "kernel_facts",
    "kernel_table",
    "latency_facts",
    "operator_table",
    "photo_facts",
    "profile_table",
    "sensitivity_facts",
    "sensitivity_table",
    "stage_facts",
    "transfer_facts",
    "where_ort",
]

FOLDED_KINDS = ("stem", "expand", "depthwise", "project", "head")


def photo_facts(names: Sequence[str], predictions: Sequence[Sequence[tuple[str, float]]],
                logits: Tensor, logits_sym: Tensor, crop_side: int) -> dict[str, Any]:
    """The photos' predictions (``top_k`` lists, one per name) and what symmetric padding
    changes (``logits``, ``logits_sym``: (N, 1000))."""
    names = list(names)
    best = {n: top[0] for n, top in zip(names, predictions, strict=True)}
    confident = [n for n in names if best[n][1] >= 0.5]
    changed = int((logits.argmax(1) != logits_sym.argmax(1)).sum())
    return {
        "cat_top1": best["chelsea"][0], "cat_p": f"{best['chelsea'][1]:.2f}",
        "cat_top5": ", ".join(label for label, _ in predictions[names.index("chelsea")]),
        "coffee_top1": best["coffee"][0], "coffee_p": f"{best['coffee'][1]:.2f}",
        "camera_top1": best["camera"][0],
        "n_confident": len(confident), "n_photos": len(names),
        "confident_list": ", ".join(confident),
        "sym_logit": f"{(logits_sym - logits).abs().max():.1f}", "sym_changed": changed,
        "crop_side": crop_side,
    }


def kernel_table(stats: Sequence[Mapping[str, Any]]) -> Markdown:
    """:func:`.trained.kernel_statistics` as a Markdown table, one row per block."""
    lines = ["| block | kernel, stride | channels | filters with all weights ≈ 0 "
             "| median centre share | weight centre: rows, columns |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['block']} | {r['k']}×{r['k']}, {r['stride']} | {r['channels']} "
              f"| {r['dead']} | {r['centre']:.2f} "
              f"| {r['offset_row']:+.2f}, {r['offset_col']:+.2f} |" for r in stats]
    return Markdown("\n".join(lines))


def _shift(r: Mapping[str, Any]) -> float:
    return (r["offset_row"] + r["offset_col"]) / 2


def kernel_facts(stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Dead filters, centre shares and weight centres of :func:`.trained.kernel_statistics`."""
    strided = [r for r in stats if r["stride"] == 2]
    plain = [r for r in stats if r["stride"] == 1]
    widest = min(strided, key=_shift)
    max_shift = max(max(abs(r["offset_row"]), abs(r["offset_col"])) for r in plain)
    return {
        "dead": sum(r["dead"] for r in stats),
        "filters": f"{sum(r['channels'] for r in stats):,}",
        "dead_blocks": sum(r["dead"] > 0 for r in stats),
        "above_flat": sum(r["centre"] > 1 / r["k"] ** 2 for r in stats),
        "n_blocks": len(stats),
        "centre_first": f"{stats[0]['centre']:.2f}", "centre_last": f"{stats[-1]['centre']:.2f}",
        "shift_block": f"{widest['block']} ({widest['k']}×{widest['k']})",
        "shift_row": f"{-widest['offset_row']:.2f}", "shift_col": f"{-widest['offset_col']:.2f}",
        "n_strided": len(strided),
        "strided_up_left": sum(r["offset_row"] < 0 and r["offset_col"] < 0 for r in strided),
        "plain_max_shift": f"{max_shift:.2f}",
    }


def stage_facts(outputs: Mapping[str, Tensor]) -> dict[str, Any]:
    """Shapes of :func:`.trained.stage_outputs` at the stem and the head."""
    stem, head = outputs["stem"].shape, outputs["head"].shape
    return {"head_channels": f"{head[1]:,}", "stem_shape": f"{stem[1]} × {stem[2]}²",
            "head_shape": f"{head[1]} × {head[2]}²"}


def bottleneck_facts(negatives: Sequence[Mapping[str, Any]], relu: Sequence[Mapping[str, Any]]
                     ) -> dict[str, Any]:
    """The linear bottleneck: :func:`.trained.projection_negatives` and
    :func:`.trained.relu_in_projection`, split into blocks without and with a shortcut."""
    neg = [100 * r["negative"] for r in negatives]
    energy = [100 * r["energy"] for r in negatives]
    plain = [r for r, n in zip(relu, negatives, strict=True) if not n["residual"]]
    res = [r for r, n in zip(relu, negatives, strict=True) if n["residual"]]
    worst = max(relu, key=lambda r: r["kl"])
    low_plain, high_res = min(r["kl"] for r in plain), max(r["kl"] for r in res)
    if low_plain > high_res:
        split = (f"Every block without a shortcut suffered more than every block with one "
                 f"(smallest KL without: {low_plain:.2f}; largest with: {high_res:.2f}).")
    else:
        split = (f"The two kinds overlap: the least affected block without a shortcut (KL "
                 f"{low_plain:.2f}) suffered less than the most affected block with one "
                 f"({high_res:.2f}).")
    return {
        "neg_range": f"{min(neg):.0f} % to {max(neg):.0f} %",
        "energy_range": f"{min(energy):.0f} % to {max(energy):.0f} %",
        "n_plain": len(plain), "n_res": len(res),
        "plain_changed": f"{100 * statistics.fmean(r['top1_changed'] for r in plain):.0f} %",
        "res_changed": f"{100 * statistics.fmean(r['top1_changed'] for r in res):.0f} %",
        "plain_kl": f"{statistics.median(r['kl'] for r in plain):.2f}",
        "res_kl": f"{statistics.median(r['kl'] for r in res):.2f}",
        "worst_block": worst["block"], "worst_changed": f"{100 * worst['top1_changed']:.0f} %",
        "res_min_kl": f"{min(r['kl'] for r in res):.2f}",
        "plain_min_kl": f"{low_plain:.2f}",
        "bottleneck_split": Markdown(split),
    }


def _spreads(ranges: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, float, float]]:
    """Per layer kind: (layers, median raw spread, median folded spread)."""
    out = {}
    for kind in FOLDED_KINDS:
        rows = [r for r in ranges if r["kind"] == kind]
        out[kind] = (len(rows), statistics.median(r["raw_spread"] for r in rows),
                     statistics.median(r["folded_spread"] for r in rows))
    return out


def folded_table(ranges: Sequence[Mapping[str, Any]]) -> Markdown:
    """:func:`.trained.folded_ranges` summarised per layer kind, as a Markdown table."""
    lines = ["Spread = largest channel range / median channel range, per layer; median over the "
             "layers of each kind.", "",
             "| layers | count | median spread, raw weights | median spread, folded "
             "| per-tensor levels of the median channel, folded |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {kind} | {n} | {raw:.1f} | {folded:.1f} | {127 / folded:.0f} |"
              for kind, (n, raw, folded) in _spreads(ranges).items()]
    return Markdown("\n".join(lines))


def folded_facts(ranges: Sequence[Mapping[str, Any]], widest: Mapping[str, Any]
                 ) -> dict[str, Any]:
    """Spreads before and after folding, per kind and for the ``widest`` depthwise layer."""
    spread = _spreads(ranges)
    return {
        "dw_raw": f"{spread['depthwise'][1]:.1f}", "dw_folded": f"{spread['depthwise'][2]:.1f}",
        "pw_folded": f"{spread['project'][2]:.1f}",
        "dw_levels": f"{127 / spread['depthwise'][2]:.0f}",
        "pw_levels": f"{127 / spread['project'][2]:.0f}",
        "widest_layer": widest["layer"], "widest_spread": f"{widest['folded_spread']:.1f}",
        "widest_raw": f"{widest['raw_spread']:.1f}",
        "stem_folded": f"{spread['stem'][2]:.1f}", "stem_raw": f"{spread['stem'][1]:.1f}",
    }


def int8_facts(variants: Mapping[str, Mapping[str, Any]], fp32_path: Any,
               calibration: Tensor, evaluation: Tensor) -> dict[str, Any]:
    """The int8 variants of :func:`.trained.int8_variants` against float32, the disagreements
    on near ties, and float32's own agreement under half a grey level of input noise."""
    reference = variants["fp32"]["logits"]
    sure = reference.softmax(1).max(1).values >= 0.5
    pc_logits = run_session(ort_session(variants["per-channel"]["path"]), evaluation)
    agree = pc_logits.argmax(1) == reference.argmax(1)
    noise = (torch.rand(evaluation.shape, generator=torch.Generator().manual_seed(0)) - 0.5) / 128
    nudged = run_session(ort_session(fp32_path), evaluation + noise)
    floor = (nudged.argmax(1) == reference.argmax(1)).float().mean().item()
    v = variants
    return {
        "n_disagree": int((~agree).sum()), "disagree_unsure": int((~agree & ~sure).sum()),
        "n_cal": len(calibration), "n_eval": len(evaluation),
        "pc_top1": f"{100 * v['per-channel']['top1']:.1f} %",
        "pt_top1": f"{100 * v['per-tensor']['top1']:.1f} %",
        "pc_kl": f"{v['per-channel']['kl']:.3f}", "pt_kl": f"{v['per-tensor']['kl']:.3f}",
        "dwpt_top1": f"{100 * v['per-tensor depthwise only']['top1']:.1f} %",
        "dwpt_kl": f"{v['per-tensor depthwise only']['kl']:.3f}",
        "dwpc_top1": f"{100 * v['per-channel depthwise only']['top1']:.1f} %",
        "dwpc_kl": f"{v['per-channel depthwise only']['kl']:.3f}",
        "kl_ratio": f"{v['per-tensor']['kl'] / v['per-channel']['kl']:.0f}",
        "n_sure": int(sure.sum()), "agree_sure": f"{100 * agree[sure].float().mean().item():.0f} %",
        "floor": f"{100 * floor:.1f} %",
        "pc_meets_aim": "meets" if v["per-channel"]["top1"] >= 0.98 else "misses",
    }


def sensitivity_table(stages: Mapping[str, Sequence[Mapping[str, Any]]]) -> Markdown:
    """The stored per-stage sensitivity, per-channel and per-tensor side by side."""
    lines = ["| stage quantized alone | per-channel: top-1 agreement | KL "
             "| per-tensor: top-1 agreement | KL |", "|---|---:|---:|---:|---:|"]
    for a, b in zip(stages["per-channel"], stages["per-tensor"], strict=True):
        lines.append(f"| {a['stage']} | {100 * a['top1']:.1f} % | {a['kl']:.4f} "
                     f"| {100 * b['top1']:.1f} % | {b['kl']:.4f} |")
    return Markdown("\n".join(lines))


def sensitivity_facts(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The most sensitive stages of the stored run and its provenance."""
    stages = stored["int8"]["stages"]
    pc_rows, pt_rows = stages["per-channel"], stages["per-tensor"]
    worst_pt = max(pt_rows, key=lambda r: r["kl"])
    worst_pc = max(pc_rows, key=lambda r: r["kl"])
    p = stored["provenance"]
    return {
        "worst_pt_stage": worst_pt["stage"], "worst_pt_kl": f"{worst_pt['kl']:.3f}",
        "worst_pc_stage": worst_pc["stage"], "worst_pc_kl": f"{worst_pc['kl']:.4f}",
        "sum_pc_kl": f"{sum(r['kl'] for r in pc_rows):.3f}",
        "stored_minutes": f"{p['seconds'] / 60:.0f}",
        "provenance": Markdown(f"`{p['command']}` at commit `{p['commit'][:10]}`, "
                               f"{p['date'][:10]}, {p['device']}, onnxruntime "
                               f"{p['onnxruntime']}, {p['seconds']:.0f} s"),
    }


def where_ort(threads: int, batch: int = 1) -> str:
    """Where ONNX Runtime timings ran: engine, device, batch and threads."""
    import onnxruntime

    return (f"ONNX Runtime {onnxruntime.__version__} on the CPU ({platform.machine()}), "
            f"batch {batch}, {threads} thread{'' if threads == 1 else 's'}")


def latency_facts(latency: Mapping[str, Any], threads: int) -> dict[str, Any]:
    """The int8/fp32 latency ratios of ``compare_latency`` with the verdict: only effects
    beyond the rounds' own spread count (:func:`~mbcourse.measure.within_noise`)."""
    fp32, pc, pt = latency["fp32"], latency["int8 per-channel"], latency["int8 per-tensor"]
    ratio_pc, noise_pc = pc.ratio_to(fp32), round_spread(pc, fp32)
    pt_vs_pc, noise_pt = pt.ratio_to(pc), round_spread(pt, pc)
    if within_noise(ratio_pc, noise_pc):
        speed = (f"int8 took {ratio_pc:.2f} of float32's time, within the rounds' own spread "
                 f"({100 * noise_pc:.0f} %): no measurable difference.")
    else:
        faster = "less" if ratio_pc < 1 else "more"
        speed = (f"int8 (per-channel) took {ratio_pc:.2f} of float32's time ({pc.median_ms:.1f} "
                 f"against {fp32.median_ms:.1f} ms), {faster} than float32 beyond the rounds' "
                 f"own spread ({100 * noise_pc:.0f} %).")
    if within_noise(pt_vs_pc, noise_pt):
        speed += (f" Per-tensor weights were no faster than per-channel ones (ratio "
                  f"{pt_vs_pc:.2f}, spread {100 * noise_pt:.0f} %).")
    else:
        speed += (f" Per-tensor weights took {pt_vs_pc:.2f} of the per-channel time "
                  f"(spread {100 * noise_pt:.0f} %).")
    return {
        "where": where_ort(threads),
        "fp32_ms": f"{fp32.median_ms:.1f}", "int8_ms": f"{pc.median_ms:.1f}",
        "int8_ratio": f"{ratio_pc:.2f}", "int8_noise": f"{100 * noise_pc:.0f} %",
        "speed_sentence": Markdown(speed),
        "meets_half": "within" if ratio_pc <= 0.5 else "above",
    }


def operator_table(counts: Mapping[str, Mapping[str, int]]) -> Markdown:
    """Operator counts of several graphs (``{graph: {op: count}}``), one column per graph."""
    ops = sorted({op for c in counts.values() for op in c},
                 key=lambda op: -max(c.get(op, 0) for c in counts.values()))
    lines = ["| operator | " + " | ".join(counts) + " |", "|---|" + "---:|" * len(counts)]
    lines += [f"| {op} | " + " | ".join(str(c.get(op, "")) for c in counts.values()) + " |"
              for op in ops]
    return Markdown("\n".join(lines))


def profile_table(profile: Mapping[str, Mapping[str, float]], where: str, runs: int) -> Markdown:
    """Kernel time per run by operator type (``{graph: {op: ms}}``), one column per graph."""
    lines = ["| ONNX Runtime kernel time per run (ms) | " + " | ".join(profile) + " |",
             "|---|" + "---:|" * len(profile)]
    for op in sorted({op for p in profile.values() for op in p},
                     key=lambda op: -max(p.get(op, 0) for p in profile.values())):
        lines.append(f"| {op} | " + " | ".join(f"{p[op]:.2f}" if op in p else ""
                                               for p in profile.values()) + " |")
    lines.append("| total | " + " | ".join(f"{sum(p.values()):.2f}" for p in profile.values())
                 + " |")
    return Markdown(f"Profiled over {runs} runs on {where}.\n\n" + "\n".join(lines))


def graph_facts(counts: Mapping[str, Mapping[str, int]], profile: Mapping[str, Mapping[str, float]]
                ) -> dict[str, Any]:
    """What the optimized int8 graph runs (``counts["int8 optimized"]``, ``counts["int8 file"]``)
    and where its kernel time goes (``profile["fp32"]``, ``profile["int8"]``)."""
    opt, int8 = counts["int8 optimized"], profile["int8"]
    floats = [f"{n} {op}" for op, n in opt.items()
              if not op.startswith("Q") and op != "DequantizeLinear"]
    clips = opt.get("Clip", 0) + opt.get("Relu", 0)
    dq_opt = opt.get("DequantizeLinear", 0)
    clip = ("no `Clip` is left: each ReLU6 became its convolution's output range (uint8 from "
            "the zero point to 6)." if clips == 0
            else f"{clips} activation operators (`Clip`/`Relu`) are still there.")
    return {
        "qconv": opt.get("QLinearConv", 0), "qadd": opt.get("QLinearAdd", 0),
        "dq_file": counts["int8 file"].get("DequantizeLinear", 0),
        "dq_opt": f"{dq_opt} remain{'s' if dq_opt == 1 else ''}",
        "float_left": ", ".join(floats) or "none",
        "conv_fp32_ms": f"{sum(v for k, v in profile['fp32'].items() if 'Conv' in k):.1f}",
        "conv_int8_ms": f"{int8.get('QLinearConv', 0):.1f}",
        "conv_share": f"{100 * int8.get('QLinearConv', 0) / sum(int8.values()):.0f} %",
        "clip_sentence": Markdown(clip),
    }


def _verdict(d: Any, other: str) -> str:
    ci = (f"{100 * d.mean:+.1f} points, 95 % interval {100 * d.low:+.1f} to {100 * d.high:+.1f}, "
          f"{d.n} paired seeds")
    if d.excludes_zero:
        side = "better" if d.mean > 0 else "worse"
        return f"the pretrained arm did {side} than {other} ({ci})"
    return f"the pretrained arm and {other} did not differ measurably ({ci})"


def transfer_facts(transfer: Mapping[str, Any]) -> dict[str, Any]:
    """The stored transfer-learning arms: mean accuracies (after and before recomputing the
    BatchNorm statistics) and the paired verdicts of the pretrained arm against the others."""
    arms = transfer["arms"]
    accuracy = {arm: result["accuracy"] for arm, result in arms.items()}
    d_scratch = paired_difference(accuracy["pretrained"], accuracy["scratch"])
    d_random = paired_difference(accuracy["pretrained"], accuracy["random features"])
    if (d_scratch.excludes_zero and d_scratch.mean > 0 and d_random.excludes_zero
            and d_random.mean > 0):
        reading = ("Features learned on ImageNet serve handwritten digits, which the network "
                   "never saw, and the random trunk shows that the gain comes from those "
                   "features, not from training only the last layers.")
    elif d_random.excludes_zero and d_random.mean > 0:
        reading = ("The learned features beat random ones trained the same way, but with this "
                   "budget the whole network trained from scratch did as well or better: the "
                   "digits are an easy task.")
    else:
        reading = ("With this budget the pretrained features gave no measurable advantage over "
                   "random features trained the same way.")
    facts: dict[str, Any] = {
        "tl_scratch": _verdict(d_scratch, "training from scratch"),
        "tl_random": _verdict(d_random, "the random trunk"),
        "tl_epochs": transfer["epochs"], "tl_seeds": len(transfer["seeds"]),
        "tl_reading": Markdown(reading),
    }
    for arm, key in (("pretrained", "pre"), ("scratch", "scr"), ("random features", "rnd")):
        facts[f"tl_{key}"] = f"{100 * statistics.fmean(accuracy[arm]):.1f} %"
        facts[f"tl_{key}_run"] = f"{100 * statistics.fmean(arms[arm]['accuracy_running']):.1f} %"
    return facts
