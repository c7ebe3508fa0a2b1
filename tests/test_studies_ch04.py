"""Chapter 4's numbers (mbcourse.studies.ch04) against the package, the papers and torchvision."""

from __future__ import annotations

import dataclasses
import math

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from mbcourse import costs
from mbcourse.blocks import HardSigmoidSE, InvertedResidual, MBConv, make_divisible
from mbcourse.display import FIGURE_TEXT_PT, FIGURE_WIDTH_IN
from mbcourse.measure import count_parameters
from mbcourse.models import efficientnet_b0, mobilenet_v3_large, mobilenet_v3_small
from mbcourse.studies import ch04


@pytest.fixture(scope="module")
def facts() -> ch04.Ch4Facts:
    return ch04.facts()


def test_hard_functions_are_the_papers() -> None:
    xs = torch.linspace(-8, 8, 1601)
    f = nn.functional
    relu6 = f.relu6(xs + 3) / 6
    torch.testing.assert_close(f.hardsigmoid(xs), relu6)  # piecewise linear
    torch.testing.assert_close(f.hardswish(xs), xs * relu6)
    inner = (xs > -3) & (xs < 3)  # hard-swish is x (x + 3) / 6 there: quadratic, not linear
    torch.testing.assert_close(f.hardswish(xs)[inner], (xs * (xs + 3) / 6)[inner])
    second = f.hardswish(xs)[inner].diff().diff()
    assert (second > 0).all()  # curved on (-3, 3)
    assert f.hardsigmoid(xs)[inner].diff().diff().abs().max() < 1e-5  # straight


def test_activation_gaps(facts: ch04.Ch4Facts) -> None:
    gaps = ch04.activation_gaps()
    assert facts.hswish_gap == round(gaps.swish_gap, 3) == 0.142
    assert facts.hswish_at == -3.0  # hard-swish reaches 0, SiLU(-3) = -3 sigma(-3)
    assert gaps.swish_gap == pytest.approx(3 * torch.sigmoid(torch.tensor(-3.0)).item(), abs=1e-6)
    assert 0.05 < facts.hsig_gap < 0.1 and abs(facts.hsig_at) < 3


def test_kernel_and_block_numbers(facts: ch04.Ch4Facts) -> None:
    k3 = costs.mbconv(80, 80, 14, expand_ratio=6, kernel_size=3)
    k5 = costs.mbconv(80, 80, 14, expand_ratio=6, kernel_size=5)
    assert facts.k5_macs_pct == round(100 * (k5.macs / k3.macs - 1), 1) > 0
    assert facts.k5_params_pct == round(100 * (k5.params / k3.params - 1), 1) > 0
    assert (facts.b0_k5_blocks, facts.b0_blocks) == (9, 16)  # EfficientNet's Table 1
    block = MBConv(80, 80, stride=1, expand_ratio=6, kernel_size=3)
    assert (facts.b80_exp, facts.b80_sq) == (480, 20)
    ir = InvertedResidual(80, 80, stride=1, expand_ratio=6)
    assert facts.mb_params - facts.ir_params == facts.se_params == count_parameters(block.se)
    assert facts.se_params == costs.squeeze_excitation(480, 20).params
    assert facts.ir_params == count_parameters(ir)
    assert facts.md_60 == 64


def test_the_hidden_check_of_mbconvs_parts() -> None:
    # what the chapter's visible cells print, checked here
    block = MBConv(80, 80, stride=1, expand_ratio=6, kernel_size=3).eval()
    x = torch.randn(1, 80, 14, 14)
    with torch.no_grad():
        h = block.se(block.depthwise(block.expand(x)))
        torch.testing.assert_close(x + block.project(h), block(x))
    assert h.shape == (1, 480, 14, 14) and block.use_residual
    first = MBConv(40, 80, stride=2, expand_ratio=6)
    assert not first.use_residual and first.se.squeeze_channels == 10
    stage1 = MBConv(32, 16, stride=1, expand_ratio=1)
    assert isinstance(stage1.expand, nn.Identity) and not stage1.use_residual
    assert costs.mbconv(32, 16, 112, expand_ratio=1).params == count_parameters(stage1)
    for blk in (m for m in efficientnet_b0().modules() if isinstance(m, MBConv)):
        assert blk.se.squeeze_channels == max(1, blk.in_channels // 4)


def test_dropout_check(facts: ch04.Ch4Facts) -> None:
    check = ch04.dropout_check(p=0.2, samples=200_000)
    assert check.eval_is_identity and check.kept == pytest.approx(1.25)
    sigma = math.sqrt(0.2 * 0.8 / 200_000)
    assert abs(check.dropped - 0.2) < 5 * sigma
    assert abs(check.mean - 1) < 5 * math.sqrt(0.2 / 0.8 / 200_000)  # Var = p / (1 - p)
    assert (facts.sd_dropped, facts.sd_kept) == (round(check.dropped, 4), 1.25)
    with pytest.raises(ValueError, match="dropout_check: p"):
        ch04.dropout_check(p=1.0)


def test_monte_carlo_error_falls_as_one_over_root_k(facts: ch04.Ch4Facts) -> None:
    mc = ch04.monte_carlo_error(p=0.5, draws=2048, ks=(1, 4, 16, 64))
    assert mc.rms[0] == pytest.approx(1.0, abs=1e-4)  # one pass: 0 or 2 F(x), both 1 away
    for k, err in zip(mc.ks, mc.rms, strict=True):
        assert err == pytest.approx(k**-0.5, rel=0.5)
    assert list(mc.rms) == sorted(mc.rms, reverse=True)
    assert facts.mc_k == 1024 and facts.mc_ref == round(1024**-0.5, 4)
    assert abs(facts.mc_err - facts.mc_ref) < 0.3 * facts.mc_ref
    with pytest.raises(ValueError, match="monte_carlo_error: draws"):
        ch04.monte_carlo_error(draws=1000)


def test_drop_rates(facts: ch04.Ch4Facts) -> None:
    rates = ch04.drop_rates()
    n = len(rates.rates)
    assert all(p == pytest.approx(0.2 * i / n) for i, p in enumerate(rates.rates))
    assert (facts.n_blocks, facts.n_residual, facts.last_rate) == (16, 9, 0.1875)
    with pytest.raises(ValueError, match="drop_rates: model holds no MBConv"):
        ch04.drop_rates(nn.Linear(2, 2))


def test_mobilenet_v3_facts_are_torchvisions(facts: ch04.Ch4Facts) -> None:
    assert (facts.v3l_params, facts.v3s_params) == (5_483_032, 2_542_856)
    assert (facts.v3l_mmacs, facts.v3s_mmacs) == (217, 57)  # torchvision: 0.217, 0.057 GFLOPS
    # the paper's Tables 1 and 2: SE and HS columns
    assert (facts.v3l_blocks, facts.v3l_se_blocks, facts.v3l_hs_blocks) == (15, 8, 9)
    assert (facts.v3s_blocks, facts.v3s_se_blocks, facts.v3s_hs_blocks) == (11, 9, 8)


def test_se_widths_contrast_the_two_rules(facts: ch04.Ch4Facts) -> None:
    large = mobilenet_v3_large()
    rows = ch04.se_width_rows(large)
    assert len(rows) == facts.v3l_se_blocks
    for r in rows:
        assert r.squeeze == make_divisible(r.expanded_channels // 4, 8)
        assert r.efficientnet_squeeze == max(1, r.in_channels // 4) < r.squeeze
    se_total = sum(count_parameters(m) for m in large.modules() if isinstance(m, HardSigmoidSE))
    assert facts.v3l_se_params == se_total
    assert facts.v3l_se_pct == round(100 * se_total / 5_483_032, 1)
    assert facts.v3l_se_params_eff < facts.v3l_se_params
    assert (facts.ex_in, facts.ex_exp, facts.ex_sq, facts.ex_sq_eff) == (40, 120, 32, 10)
    assert facts.ex_se_params == costs.squeeze_excitation(120, 32).params
    assert facts.ex_params == costs.mobilenet_v3_block(40, 120, 40, 28, kernel_size=5,
                                                       use_se=True).params
    small_rows = ch04.se_width_rows(mobilenet_v3_small())
    assert small_rows[0].in_channels == small_rows[0].expanded_channels == 16  # no expansion
    assert small_rows[0].squeeze == 8  # 16 // 4 = 4, rounded up to 8


def test_tables_read_like_the_paper() -> None:
    text = ch04.table_markdown("mobilenet_v3_large")
    lines = text.splitlines()
    assert lines[0] == "| input | operator | exp size | #out | SE | NL | s |"
    assert "| 56² × 24 | bneck, 5x5 | 72 | 40 | ✓ | RE | 2 |" in lines
    assert len(lines) == 2 + 20
    se = ch04.se_width_markdown(mobilenet_v3_large()).splitlines()
    assert len(se) == 2 + 8 and se[3].startswith("| 5 | 40 | 120 | 32 | 7,832 | 10 |")


def test_facts_fields_are_glue_names(facts: ch04.Ch4Facts) -> None:
    names = [f.name for f in dataclasses.fields(facts)]
    assert len(names) == len(set(names))
    assert all(isinstance(getattr(facts, n), int | float) for n in names)


@pytest.mark.parametrize(
    "draw",
    [ch04.plot_activations,
     lambda: ch04.plot_monte_carlo(ch04.monte_carlo_error(draws=1024, ks=(1, 4, 16))),
     lambda: ch04.plot_drop_rates(ch04.drop_rates())],
)
def test_figures_meet_the_policy(draw) -> None:
    with plt.rc_context({"font.size": FIGURE_TEXT_PT}):
        fig = draw()
    try:
        assert fig.get_size_inches()[0] <= FIGURE_WIDTH_IN
        texts = [t for t in fig.findobj(plt.Text) if t.get_text()]
        assert texts and min(t.get_fontsize() for t in texts) >= FIGURE_TEXT_PT
        for ax in fig.axes:  # log ticks as plain numbers, never 10^k
            labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
            assert not any("10^" in s or "times10" in s for s in labels)
    finally:
        plt.close(fig)
