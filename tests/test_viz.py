"""Block diagrams come from the modules: labels, shapes, skip arrows, neuron counts, cleanup."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.patches import Circle, Rectangle
from matplotlib.text import Text

from mbcourse import viz
from mbcourse.blocks import (
    ConvNormAct,
    DepthwiseSeparableConv,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
    record_se_gates,
)
from mbcourse.display import FIGURE_RC, FIGURE_TEXT_PT, FIGURE_WIDTH_IN
from mbcourse.studies.manifold import spiral_experiment


@pytest.fixture(autouse=True)
def _book_style():
    with matplotlib.rc_context(FIGURE_RC):  # the chapters draw under the figure policy
        yield


@pytest.fixture(autouse=True)
def _close_figures():
    before = set(plt.get_fignums())
    yield
    for num in set(plt.get_fignums()) - before:
        plt.close(num)


def _texts(fig, gid: str | None = None) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts if gid is None or t.get_gid() == gid]


def _patches(fig, gid: str) -> list:
    return [p for ax in fig.axes for p in ax.patches if p.get_gid() == gid]


# ---------------------------------------------------------------------------- labels from module
@pytest.mark.parametrize("t", [2, 4, 6])
def test_expand_ratio_changes_labels_and_shapes(t: int) -> None:
    fig = viz.draw_block(InvertedResidual(24, 24, 1, t), (1, 24, 56, 56))
    hidden = 24 * t
    labels = _texts(fig, "label")
    assert labels[0].startswith(f"1×1 conv 24→{hidden}\nBN, ReLU6")
    assert labels[1].startswith(f"3×3 depthwise, {hidden} ch")
    assert labels[2] == f"1×1 conv {hidden}→24\nBN, linear (no activation)"
    shapes = _texts(fig, "shape")
    assert shapes == [
        "1×24×56×56", f"1×{hidden}×56×56", f"1×{hidden}×56×56", "1×24×56×56", "1×24×56×56"
    ]


def test_expand_ratio_one_has_no_expansion_box() -> None:
    trace = viz.trace_block(InvertedResidual(32, 16, 1, 1), (1, 32, 8, 8))
    assert [s.name for s in trace.stages] == ["depthwise", "project"]


def test_stride_and_kernel_come_from_the_conv() -> None:
    trace = viz.trace_block(MBConv(16, 24, stride=2, expand_ratio=6, kernel_size=5), (2, 16, 9, 9))
    dw = next(s for s in trace.stages if s.name == "depthwise")
    assert dw.label.startswith("5×5 depthwise, 96 ch, stride 2")
    assert dw.kind == "depthwise"
    assert dw.out_shape == (2, 96, 5, 5)
    assert trace.output_shape == (2, 24, 5, 5)


def test_shapes_on_edges_match_a_real_forward_pass() -> None:
    block = MBConv(16, 40, stride=2, expand_ratio=4).eval()
    x = torch.randn(3, 16, 20, 14)
    out = block(x)
    fig = viz.draw_block(block, tuple(x.shape))
    shapes = _texts(fig, "shape")
    assert shapes[0] == viz.format_shape(x.shape)
    assert shapes[-1] == viz.format_shape(out.shape)
    # expand, depthwise, SE, project: four boxes, five edges
    assert len(_texts(fig, "label")) == 4
    assert len(shapes) == 5


def test_linear_projection_is_hatched_and_others_are_not() -> None:
    fig = viz.draw_block(InvertedResidual(16, 16, 1, 6), (1, 16, 8, 8))
    assert _patches(fig, "stage:project")[0].get_hatch() == "///"
    assert _patches(fig, "stage:expand")[0].get_hatch() is None
    assert _patches(fig, "stage:depthwise")[0].get_hatch() is None


# ---------------------------------------------------------------------------- skip arrows
@pytest.mark.parametrize("block", [InvertedResidual, MBConv, FusedMBConv])
@pytest.mark.parametrize(("cin", "cout", "stride"), [(16, 16, 1), (16, 16, 2), (16, 24, 1)])
def test_residual_arrow_iff_use_residual(block, cin: int, cout: int, stride: int) -> None:
    module = block(cin, cout, stride=stride)
    fig = viz.draw_block(module, (1, cin, 8, 8))
    arrows = _patches(fig, "residual")
    merges = _patches(fig, "merge-add")
    assert len(arrows) == len(merges) == int(module.use_residual)
    title = fig.axes[0].get_title()
    assert ("no residual" in title) != module.use_residual


def test_use_residual_is_read_from_the_module() -> None:
    module = InvertedResidual(16, 16, 1, 6)
    module.use_residual = False  # the forward now skips the add; the drawing must follow
    assert not _patches(viz.draw_block(module, (1, 16, 4, 4)), "residual")


def test_stochastic_depth_is_noted_on_the_residual() -> None:
    with_sd = viz.trace_block(MBConv(16, 16, stochastic_depth_prob=0.125), (1, 16, 4, 4))
    without = viz.trace_block(MBConv(16, 16), (1, 16, 4, 4))
    assert "stochastic depth p=0.125" in with_sd.skip_note
    assert "stochastic" not in without.skip_note


def test_bare_se_draws_its_layers_and_the_scale_skip() -> None:
    fig = viz.draw_block(SqueezeExcitation(32, 8), (2, 32, 5, 5))
    labels = _texts(fig, "label")
    assert labels == [
        "global average pool",
        "fc1: 1×1 conv 32→4 + bias",
        "ReLU",
        "fc2: 1×1 conv 4→32 + bias",
        "sigmoid",
    ]
    assert len(_patches(fig, "scale")) == 1
    assert not _patches(fig, "residual")
    assert _texts(fig, "shape")[-1] == "2×32×5×5"


def test_conv_norm_act_is_one_stage_as_inside_a_block() -> None:
    # chapter 1's Figure 2: the standard conv and the separable layer at one level of detail
    standard = viz.trace_block(ConvNormAct(3, 8, 3, 2), (1, 3, 8, 8))
    assert [(s.kind, s.label) for s in standard.stages] == [
        ("conv", "3×3 conv 3→8, stride 2\nBN, ReLU6")
    ]
    assert standard.stages[0].out_shape == standard.output_shape == (1, 8, 4, 4)
    linear = viz.trace_block(ConvNormAct(8, 8, 1, activation=None), (1, 8, 4, 4))
    assert [(s.kind, s.linear) for s in linear.stages] == [("projection", True)]
    dsc = viz.trace_block(DepthwiseSeparableConv(8, 16, stride=2), (1, 8, 6, 6))
    assert [s.name for s in dsc.stages] == ["depthwise", "pointwise"]
    assert [s.label.split("\n")[1] for s in dsc.stages] == ["BN, ReLU6", "BN, ReLU6"]
    assert dsc.skip is None and dsc.output_shape == (1, 16, 3, 3)


def test_fused_without_expansion_is_one_conv() -> None:
    trace = viz.trace_block(FusedMBConv(24, 24, 1, expand_ratio=1), (1, 24, 8, 8))
    assert [s.name for s in trace.stages] == ["fused"]
    assert trace.stages[0].label.startswith("3×3 conv 24→24\nBN, SiLU")


def test_tracing_restores_mode_and_leaves_no_state() -> None:
    block = MBConv(8, 8).train()
    block.se.eval()  # a submodule with its own mode: restored as it was, not to the parent's
    modes = [m.training for m in block.modules()]
    before = {name: list(m.__dict__) for name, m in block.named_modules()}
    hooks = [len(m._forward_hooks) for m in block.modules()]
    viz.trace_block(block, (5, 8, 3, 3))
    viz.draw_mbconv_vs_fused(block, FusedMBConv(8, 8), (1, 8, 4, 4))
    assert [m.training for m in block.modules()] == modes
    assert {name: list(m.__dict__) for name, m in block.named_modules()} == before
    assert [len(m._forward_hooks) for m in block.modules()] == hooks


def test_bad_inputs_name_the_function() -> None:
    with pytest.raises(TypeError, match=r"draw_block: module must be a torch\.nn\.Module"):
        viz.draw_block("block", (1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"draw_block: input_shape must be 4 positive"):
        viz.draw_block(InvertedResidual(8, 8), (8, 8, 8))
    with pytest.raises(ValueError, match=r"draw_block: InvertedResidual does not accept an input "
                       r"of shape \(1, 3, 8, 8\): it expects 8 input channels"):
        viz.draw_block(InvertedResidual(8, 8), (1, 3, 8, 8))
    with pytest.raises(ValueError, match="trace_block: Identity has no child layers"):
        viz.trace_block(torch.nn.Identity(), (1, 3, 8, 8))


# ---------------------------------------------------------------------------- SE MLP
@pytest.mark.parametrize(("channels", "squeeze"), [(8, 2), (16, 4), (144, 36), (40, 10)])
def test_se_mlp_neuron_counts_match_the_module(channels: int, squeeze: int) -> None:
    se = SqueezeExcitation(channels, squeeze_channels=squeeze)
    fig = viz.draw_se_mlp(se, max_neurons=16)
    counts = {k: len(_patches(fig, f"neuron-{k}")) for k in ("in", "hidden", "out")}
    assert counts == {"in": min(channels, 16), "hidden": min(squeeze, 16),
                      "out": min(channels, 16)}
    notes = _texts(fig, "subsampled")
    expected = [f"showing 16 of {c}" for c in (channels, squeeze, channels) if c > 16]
    assert notes == expected
    params = sum(p.numel() for p in se.parameters())
    assert f"{params:,} parameters" in fig.axes[0].get_title()
    assert f"{channels} → {squeeze} → {channels}" in fig.axes[0].get_title()


def test_se_mlp_colours_a_recorded_gate() -> None:
    se = SqueezeExcitation(8, 2)
    plain = {tuple(c.get_facecolor()) for c in _patches(viz.draw_se_mlp(se), "neuron-out")}
    with record_se_gates(se) as gates:
        se(torch.randn(2, 8, 4, 4))
    fig = viz.draw_se_mlp(se, gate=gates[""])
    coloured = [tuple(c.get_facecolor()) for c in _patches(fig, "neuron-out")]
    assert len(plain) == 1
    assert len(set(coloured)) > 1
    cmap, norm = plt.get_cmap("RdBu_r"), viz.gate_norm(gates[""][0])
    assert coloured == [cmap(norm(float(g))) for g in gates[""][0]]  # sample 0, by channel
    others = {tuple(c.get_facecolor()) for k in ("in", "hidden")
              for c in _patches(fig, f"neuron-{k}")}
    assert len(others) == 1  # one neutral colour: no colour but the gates' reads as a value
    with pytest.raises(ValueError, match=r"draw_se_mlp: gate must be a tensor of shape \(8,\)"):
        viz.draw_se_mlp(se, gate=torch.rand(2, 7))


def test_se_mlp_rejects_other_modules() -> None:
    with pytest.raises(TypeError, match="draw_se_mlp: se must be an mbcourse SqueezeExcitation"):
        viz.draw_se_mlp(MBConv(8, 8))


# ---------------------------------------------------------------------------- two panels
def test_mbconv_vs_fused_two_panels_with_their_own_counts() -> None:
    mb, fu = MBConv(24, 24, 1, 4), FusedMBConv(24, 24, 1, 4)
    fig = viz.draw_mbconv_vs_fused(mb, fu, (1, 24, 16, 16))
    assert len(fig.axes) == 2
    left, right = (ax.get_title() for ax in fig.axes)
    assert left.startswith(f"MBConv\n{sum(p.numel() for p in mb.parameters()):,} parameters")
    assert right.startswith(
        f"Fused-MBConv\n{sum(p.numel() for p in fu.parameters()):,} parameters"
    )
    assert "residual: stride 1, 24 = 24 channels" in fig.get_suptitle()  # once, for both
    with pytest.raises(TypeError, match="draw_mbconv_vs_fused: mbconv must be"):
        viz.draw_mbconv_vs_fused(fu, mb, (1, 24, 16, 16))
    with pytest.raises(ValueError, match=r"draw_mbconv_vs_fused: FusedMBConv does not accept an "
                       r"input of shape \(1, 24, 16, 16\): it expects 16 input channels"):
        viz.draw_mbconv_vs_fused(mb, FusedMBConv(16, 24), (1, 24, 16, 16))


# ---------------------------------------------------------------------------- helpers, cleanup
def test_drawing_on_a_given_axes_creates_no_figure() -> None:
    fig, ax = plt.subplots()
    before = plt.get_fignums()
    assert viz.draw_block(InvertedResidual(8, 8), (1, 8, 4, 4), ax=ax) is fig
    assert viz.draw_se_mlp(SqueezeExcitation(8, 2), ax=ax) is fig
    assert plt.get_fignums() == before


def test_each_call_without_axes_makes_one_figure_that_closes() -> None:
    before = len(plt.get_fignums())
    fig = viz.draw_block(InvertedResidual(8, 8), (1, 8, 4, 4))
    assert len(plt.get_fignums()) == before + 1
    plt.close(fig)
    assert len(plt.get_fignums()) == before


def test_bar_compare_heights_are_the_values() -> None:
    fig = viz.bar_compare(["a", "b", "c"], {"x": [1, 2, 3], "y": [30, 20, 10]},
                          ylabel="count", title="t")
    heights = [p.get_height() for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert heights == [1, 2, 3, 30, 20, 10]
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == ["1", "2", "3", "30", "20", "10"]
    fig2 = viz.bar_compare(["a"], {"x": [1234.5]}, ylabel="", title="",
                           value_format=lambda v: f"<{v:.1f}>")
    assert [t.get_text() for t in fig2.axes[0].texts] == ["<1234.5>"]
    with pytest.raises(ValueError, match="bar_compare: series 'x' has 2 values for 3"):
        viz.bar_compare(["a", "b", "c"], {"x": [1, 2]}, ylabel="", title="")


def test_plot_spiral_embeddings_one_panel_per_dimension() -> None:
    pts = torch.randn(50, 2)
    fig = viz.plot_spiral_embeddings(pts, {2: pts * 0, 7: pts}, notes={7: "ok"})
    assert [ax.get_title() for ax in fig.axes] == ["Input", "n = 2", "n = 7\nok"]
    with pytest.raises(ValueError, match="reconstruction for n=3 has shape"):
        viz.plot_spiral_embeddings(pts, {3: pts[:10]})


def test_no_circles_leak_from_block_drawings() -> None:
    fig = viz.draw_block(DepthwiseSeparableConv(8, 8), (1, 8, 4, 4))
    assert not [p for p in fig.axes[0].patches if isinstance(p, Circle)]


# ---------------------------------------------------------------------------- the figure policy
def _render(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _drawn_width(fig) -> float:
    """Width in inches of what ``savefig(bbox_inches="tight")`` writes."""
    return fig.get_tightbbox(_render(fig)).width


def _texts_of(fig) -> list:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _diagrams() -> dict:
    ir = InvertedResidual(24, 24, 1, 6)
    return {
        "block": lambda: viz.draw_block(ir, (1, 24, 56, 56)),
        "block-sd": lambda: viz.draw_block(MBConv(80, 80, stochastic_depth_prob=0.2),
                                           (1, 80, 14, 14)),
        "blocks": lambda: viz.draw_blocks([ir, InvertedResidual(24, 32, 2, 6)],
                                          (1, 24, 56, 56)),
        "separable": lambda: viz.draw_blocks(
            [ConvNormAct(32, 64, 3), DepthwiseSeparableConv(32, 64, 3)], (1, 32, 56, 56),
            titles=["Standard 3×3 convolution (ConvNormAct)",
                    "Depthwise separable (DepthwiseSeparableConv)"]),
        "mbconv-vs-fused": lambda: viz.draw_mbconv_vs_fused(
            MBConv(48, 64, 2, 4, se_ratio=0.25), FusedMBConv(48, 64, 2, 4, se_ratio=0.25),
            (1, 48, 96, 96)),
        "se-mlp": lambda: viz.draw_se_mlp(SqueezeExcitation(64, 16),
                                          gate=torch.rand(2, 64)),
        "bars": lambda: viz.bar_compare(
            [f"{r}×{r}" for r in (112, 56, 28, 14, 7)],
            {"bottleneck tensors (ours)": [401, 151, 50, 38, 31],
             "expanded tensors (ours)": [2408, 903, 301, 226, 94],
             "paper, Table 3": [400, 200, 100, 62, 32]},
            ylabel="largest tensor at 16-bit (kB, log scale)", xlabel="spatial resolution",
            title="MobileNetV2 at 224×224: largest activation tensor per resolution", log=True),
        "spiral": lambda: viz.plot_spiral_embeddings(
            torch.randn(100, 2), {n: torch.randn(100, 2) for n in (2, 3, 5, 15, 30)},
            notes={n: "76% of points lost (this T)" for n in (2, 3, 5, 15, 30)},
            title="Spiral → ReLU(T x) in n dimensions → T⁺ back to 2-D (MobileNetV2, Figure 1)"),
    }


@pytest.mark.parametrize("name", list(_diagrams()))
def test_figures_fit_the_column_with_12_pt_text(name: str) -> None:
    fig = _diagrams()[name]()
    assert _drawn_width(fig) <= FIGURE_WIDTH_IN + 0.05
    small = [(t.get_text(), t.get_fontsize()) for t in _texts_of(fig)
             if t.get_fontsize() < FIGURE_TEXT_PT]
    assert not small


@pytest.mark.parametrize("name", ["block", "block-sd", "blocks", "separable", "mbconv-vs-fused"])
def test_every_label_fits_its_box_and_no_two_texts_meet(name: str) -> None:
    fig = _diagrams()[name]()
    renderer = _render(fig)
    for ax in fig.axes:
        boxes = {p.get_gid(): p.get_window_extent(renderer) for p in ax.patches
                 if (p.get_gid() or "").startswith("stage:")}
        labels = [t for t in ax.texts if t.get_gid() == "label"]
        assert len(labels) == len(boxes)
        for text, box in zip(labels, boxes.values(), strict=True):
            inside = text.get_window_extent(renderer)
            assert box.x0 <= inside.x0 and inside.x1 <= box.x1, text.get_text()
            assert box.y0 <= inside.y0 and inside.y1 <= box.y1, text.get_text()
        extents = [(t.get_text(), t.get_window_extent(renderer)) for t in _texts_of(fig)
                   if t.axes is ax]
        for i, (a, box_a) in enumerate(extents):
            for b, box_b in extents[i + 1:]:
                assert not box_a.overlaps(box_b), (a, b)


def test_draw_blocks_share_one_scale_with_their_inputs_level() -> None:
    fig = _diagrams()["blocks"]()
    renderer = _render(fig)
    scales = [ax.transData.transform((1, 0))[0] - ax.transData.transform((0, 0))[0]
              for ax in fig.axes]
    assert scales == pytest.approx([fig.dpi] * 2)  # one data unit = one inch in both
    inputs = [t.get_window_extent(renderer).y0 for t in _texts_of(fig) if t.get_gid() == "input"]
    assert inputs[0] == pytest.approx(inputs[1])
    legends = [t for t in _texts_of(fig) if t.get_gid() == "legend"]
    assert len(legends) == 1  # the hatching explained once
    with pytest.raises(ValueError, match="draw_blocks: got 2 modules but 1 titles"):
        viz.draw_blocks([InvertedResidual(8, 8)] * 2, (1, 8, 4, 4), titles=["a"])
    with pytest.raises(ValueError, match="draw_blocks: modules must hold at least one"):
        viz.draw_blocks([], (1, 8, 4, 4))


def test_a_narrow_column_wraps_labels_and_keeps_them_whole() -> None:
    wide = viz.trace_block(MBConv(48, 64, 2, 4, se_ratio=0.25), (1, 48, 96, 96))
    fig = viz.draw_blocks([MBConv(48, 64, 2, 4, se_ratio=0.25)] * 3, (1, 48, 96, 96))
    drawn = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "label"]
    assert [d.replace("\n", " ") for d in drawn] == [s.label.replace("\n", " ")
                                                     for s in wide.stages]
    assert any(d.count("\n") > s.label.count("\n") for d, s in zip(drawn, wide.stages,
                                                                    strict=True))


def test_gate_colours_diverge_around_one_half_over_the_gates_range() -> None:
    norm = viz.gate_norm(torch.tensor([0.45, 0.5, 0.58]))
    assert (norm.vmin, norm.vmax) == pytest.approx((0.42, 0.58))
    assert norm(0.5) == pytest.approx(0.5)
    assert norm(0.58) == pytest.approx(1.0)
    flat = viz.gate_norm(torch.full((4,), 0.5))
    assert flat.vmax - flat.vmin == pytest.approx(2e-3)  # a constant gate still has a scale
    se = SqueezeExcitation(8, 2)
    fig = viz.draw_se_mlp(se, gate=torch.tensor([0.45, 0.5, 0.58, 0.5, 0.5, 0.5, 0.5, 0.5]))
    bar = fig.axes[-1]
    ticks = [t.get_text() for t in bar.get_xticklabels()]
    assert ticks == ["0.450", "0.5", "0.580"]  # the lowest and the highest gate are marked


def _legend_overlaps(ax) -> list:
    renderer = _render(ax.figure)
    frame = ax.get_legend().get_window_extent(renderer)
    return [b for b in ax.patches if isinstance(b, Rectangle)
            and b.get_window_extent(renderer).overlaps(frame)]


@pytest.mark.parametrize("heights", [[3, 3, 3, 3], [1, 5, 5, 1], [5, 1, 1, 5], [4, 4.1, 4.2, 4]])
def test_mark_within_noise_puts_its_legend_clear_of_the_bars(heights: list) -> None:
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 3.8))
    bars = ax.bar(["a", "b", "c", "d"], heights, label="fastest time")
    assert viz.mark_within_noise(ax, bars, [False, True, True, False]) == 2
    ax.set_xlabel("variant")
    ax.set_title("latency")
    fig.tight_layout()  # as a chapter does after drawing
    assert not _legend_overlaps(ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "fastest time" and labels[1].startswith("within noise")


def test_mark_within_noise_keeps_the_callers_legend() -> None:
    _, ax = plt.subplots()
    bars = ax.bar(["a", "b"], [1, 2], label="time")
    ax.axhline(1.5, label="reference")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, frameon=False,
              fontsize=13, title="runs")
    anchor = ax.get_legend().get_bbox_to_anchor().bounds
    viz.mark_within_noise(ax, bars, [True, False])
    legend = ax.get_legend()
    assert legend._get_loc() == 9  # "upper center"
    assert legend.get_bbox_to_anchor().bounds == pytest.approx(anchor)
    assert legend._ncols == 2 and not legend.get_frame_on()
    assert legend.prop.get_size() == 13 and legend.get_title().get_text() == "runs"
    assert len(legend.get_texts()) == 3
    _, plain = plt.subplots()
    assert viz.mark_within_noise(plain, plain.bar(["a"], [1]), [False]) == 0
    assert plain.get_legend() is None


@pytest.mark.parametrize("log", [False, True])
def test_bar_compare_legend_never_covers_a_bar(log: bool) -> None:
    fig = viz.bar_compare(["a", "b", "c"], {"x": [10, 200, 3000], "y": [3000, 200, 10],
                                            "a long series name": [50, 50, 50]},
                          ylabel="count", title="t", log=log)
    assert not _legend_overlaps(fig.axes[0])


def test_bar_compare_missing_values_draw_nothing() -> None:
    fig = viz.bar_compare(["a", "b"], {"x": [1.0, float("nan")], "y": [0, 2]}, ylabel="",
                          title="", log=True, value_format="{:.0f}")
    assert [t.get_text() for t in fig.axes[0].texts if t.get_text()] == ["1", "2"]


def test_spiral_panels_three_a_row_and_points_as_an_image() -> None:
    import io

    pts, runs = spiral_experiment(num_points=800, seed=3)  # chapter 2's figure
    fig = viz.plot_spiral_embeddings(pts, {n: r.reconstruction for n, r in runs.items()})
    visible = [ax for ax in fig.axes if ax.get_visible()]
    rows = {round(ax.get_position().y0, 3) for ax in visible}
    assert len(visible) == 6 and len(rows) == 2
    assert all(c.get_rasterized() for ax in visible for c in ax.collections)
    svg = io.StringIO()
    fig.savefig(svg, format="svg", bbox_inches="tight")
    assert len(svg.getvalue()) < 150_000  # 4,800 points as vector circles: ~800 kB
