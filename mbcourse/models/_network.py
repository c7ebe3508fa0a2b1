"""What MobileNetV2 and EfficientNet share: the classifier's forward pass, the stage grouping and
torchvision's weight initialisation."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from typing import Literal

import torch
from torch import Tensor, nn


class ImageClassifier(nn.Module):
    """``features`` (stem, blocks, head; torchvision's layout) -> ``avgpool`` -> ``classifier``.

    Subclasses set the three attributes and list their block rows in :meth:`_stages`.
    """

    features: nn.Sequential
    avgpool: nn.Module
    classifier: nn.Sequential

    def _stages(self) -> Iterable[tuple[str, nn.Module]]:
        raise NotImplementedError

    def stage_modules(self) -> OrderedDict[str, nn.Module]:
        """``stem``, ``stage<k>`` (one per block row of the table), ``head``: shared modules."""
        groups: OrderedDict[str, nn.Module] = OrderedDict(stem=self.features[0])
        groups.update(self._stages())
        groups["head"] = self.features[-1]
        return groups

    def forward(self, x: Tensor) -> Tensor:
        """``(N, 3, H, W) -> features (N, C_head, H/32, W/32) -> pool -> (N, num_classes)``."""
        x = self.features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier(x)


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
