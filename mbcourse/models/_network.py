"""What MobileNetV2 and EfficientNet share: the classifier's forward pass with its one input
check, the stage grouping and torchvision's weight initialisation."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from typing import Literal

import torch
from torch import Tensor, nn


@torch.fx.wrap
def check_images(x: Tensor, channels: int, network: str) -> None:
    """Raise a clear error unless ``x`` is an ``(N, channels, H, W)`` tensor.

    A network's one check of its input (its blocks check nothing at run time). ``torch.fx``
    keeps it as one node of a traced graph (``torch.fx.wrap``), which then checks real inputs
    too; ``torch.compile`` and ``torch.export`` read it as plain Python on the input's shape.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{network}: expected a torch.Tensor input, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{network}: expected a 4-D input (N, C, H, W) with C={channels}, "
            f"got a {x.dim()}-D tensor of shape {tuple(x.shape)}"
        )
    if x.shape[1] != channels:
        raise ValueError(
            f"{network}: expected {channels} input channels (N, {channels}, H, W), "
            f"got {x.shape[1]} channels in shape {tuple(x.shape)}"
        )


class ImageClassifier(nn.Module):
    """``features`` (stem, blocks, head; torchvision's layout) -> ``avgpool`` -> ``classifier``.

    Subclasses set the three attributes (``features`` and ``classifier`` are
    ``nn.Sequential``) and list their block rows in :meth:`_stages`. The input is checked here,
    once, against the stem's ``in_channels`` (:func:`check_images`); the blocks' forward passes
    are plain tensor code.
    """

    __jit_unused_properties__ = ["in_channels"]  # noqa: RUF012 - TorchScript reads this list

    @property
    def in_channels(self) -> int:
        """The channels the stem takes (3: RGB images)."""
        return self.features[0].in_channels

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
        if not torch.jit.is_scripting():  # TorchScript compiles the network without the check
            check_images(x, self.in_channels, type(self).__name__)
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
