"""Chapter 0's facts (mbcourse.studies.ch00): the device line and the batch it prints."""

from __future__ import annotations

import pytest

from mbcourse.runtime import describe_device, sized
from mbcourse.studies import ch00


def test_facts_name_the_device_and_its_batch() -> None:
    batch = sized(cpu=8, gpu=256, device="cpu")
    facts = ch00.facts("cpu", batch)
    assert facts == ch00.Ch0Facts(describe_device("cpu"), 8)
    assert facts.device.startswith("CPU (")


@pytest.mark.parametrize("batch", [0, 2.5, "8"])
def test_facts_reject_a_batch_that_is_not_a_positive_integer(batch: object) -> None:
    with pytest.raises(ValueError, match=r"studies\.ch00\.facts: batch must be a positive integer"):
        ch00.facts("cpu", batch)
