"""Chapter 3 (Channel attention: Squeeze-and-Excitation)."""

from __future__ import annotations

import torch

from mbcourse import costs
from mbcourse.blocks import MBConv, SqueezeExcitation

from .. import checkers
from ..book import Built, define
from ..verdicts import choice, code, number, shape


@define(3, "Channel attention: Squeeze-and-Excitation", "03_squeeze_excitation")
def build() -> Built:
    params = costs.squeeze_excitation(256, 256 // 16).params
    no_bias = params - 256 // 16 - 256
    se = SqueezeExcitation(96, reduction=4).eval()
    with torch.no_grad():
        after_fc1 = tuple(se.fc1(se.avgpool(torch.zeros(8, 96, 28, 28))).shape)
    effnet = MBConv(112, 112, stride=1, expand_ratio=6, kernel_size=5).se
    effnet_params = sum(p.numel() for p in effnet.parameters())
    table10 = "Error is nearly flat from r = 4 to r = 16 while parameters grow"
    return {
        "ch3-ex-params": number(params, "parameters", hints=[
            "S = 256 // 16. Both layers have a bias.", "2·C·S + S + C"], mistakes={
            no_bias: "You forgot the biases: both 1×1 convolutions have one (S + C more).",
            no_bias // 2: "That is one of the two layers' weights; the excitation MLP has two "
            "layers, each with a bias.",
        }),
        "ch3-ex-shape": shape(after_fc1, hints=[
            "The squeeze has already removed H and W.", "fc1 maps C to C // r."], mistakes={
            (8, 24, 28, 28): "The squeeze (global average pooling) comes before fc1: H and W are "
            "already 1.",
            (1, 24, 1, 1): "The batch dimension stays 8: SE gates each image separately.",
        }),
        "ch3-ex-table10": choice(
            (table10, "Right: the top-1 error moves by a few hundredths of a point between r = 4 "
             "and r = 16, while the parameters grow by millions (the table above)."),
            {"r = 1 gives the lowest error": "r = 1 was not measured, and the errors do not fall "
             "as r shrinks from 16 to 4.",
             "SE only helps when r <= 8": "Every r beats plain ResNet-50, r = 32 included.",
             "Parameters do not depend on r": "SE's parameters are about 2C²/r: they double when "
             "r halves."},
            hints=["Compare the r = 4 and r = 16 rows in both columns."]),
        "ch3-ex-effnet": number(effnet_params, "parameters", hints=[
            "C = 672 channels are gated; S = max(1, 112 // 4).", "2·C·S + S + C"], mistakes={
            costs.squeeze_excitation(672, 672 // 4).params: "That squeezes a quarter of the "
            "expanded width; EfficientNet squeezes a quarter of the block input (112 // 4).",
            costs.squeeze_excitation(112, 112 // 4).params: "The SE gates the 672 expanded "
            "channels, not the 112 input channels; only the squeeze width comes from the input.",
        }),
        "ch3-ex-code": code(checkers.check_se, "MySE", hints=[
            "fc1 = nn.Conv2d(channels, squeeze, 1) (bias on by default).",
            "forward: return x * self.scale_activation(self.fc2(self.activation(self.fc1("
            "self.avgpool(x)))))",
        ]),
    }, {"ch3_ex1_answer": params, "ch3_ex4_answer": effnet_params,
        "ch3_ex4_squeeze": effnet.squeeze_channels,
        "ch3_ex4_r": effnet.channels // effnet.squeeze_channels}
