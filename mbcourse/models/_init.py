"""torchvision's weight initialisation, shared by MobileNetV2 and EfficientNet."""

from __future__ import annotations

import math
from typing import Literal

from torch import nn


def init_weights(model: nn.Module, linear: Literal["normal", "uniform"]) -> None:
    """Kaiming-normal (fan_out) convs, BatchNorm 1/0, zero biases; the classifier's weights are
    ``normal(0, 0.01)`` (MobileNetV2) or ``uniform(+-1/sqrt(out_features))`` (EfficientNet)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear == "normal":
                nn.init.normal_(m.weight, 0, 0.01)
            else:
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
