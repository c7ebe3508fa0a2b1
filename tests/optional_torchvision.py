"""torchvision, when it imports: the reference our models are compared with (optional)."""

from __future__ import annotations

import pytest

try:
    import torchvision.models as tv_models
except Exception as exc:  # ImportError, or a broken install ("operator torchvision::nms ...")
    tv_models = None
    TV_SKIP = f"torchvision is not importable here ({type(exc).__name__}: {exc})"
else:
    TV_SKIP = ""

needs_torchvision = pytest.mark.skipif(tv_models is None, reason=TV_SKIP or "unused")
