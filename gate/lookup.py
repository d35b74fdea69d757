"""Unranked ``--image`` references looked up in Security Center's image list.

The ranking lists only the riskiest images, so the image about to be deployed is often not in
it. For each ``--image`` reference no ranked image matches, this step asks
``DescribeImageInstances`` for that image; when Security Center lists it *and has scanned it*,
the image is evaluated with its own data instead of the ``--unranked`` placeholder:

- ``imageVulAsap``/``imageVulLater``/``imageVulNntf``: its open vulnerability records of that
  priority (``DescribeImageVulList``, the same fetch ``--explain`` and record metrics use);
- ``VulCount``, ``HcCount``: the image list's counters;
- every other counter of the ranking (malicious files, baseline levels, ...) is not known
  for such an image: a rule reading one cannot be evaluated (``error`` under a mandatory
  rule, ``warn`` under an advisory one), never a silent pass.

A reference the image list does not have, has not scanned, or matches ambiguously (one tag,
several digests) stays unranked, and the report says which and why. A lookup that fails
(permission, throttling) also leaves it unranked, with a warning: the lookup only ever adds
data, so the ``--unranked`` outcome still decides about the unknown.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gate.errors import GateError
from gate.model import Image
from gate.policy.metrics import DETAIL_COUNTERS, IMAGE_FIELDS
from gate.source.images import SCANNED, Instance, InstanceSource, Lookup, decide
from gate.source.vulns import RecordSource, why

if TYPE_CHECKING:
    from gate.imageref import ImageRef

VUL_COUNTERS = {"imageVulAsap": "asap", "imageVulLater": "later", "imageVulNntf": "nntf"}
UNKNOWN = (
    "{metric} is not known for an image outside the ranking (Security Center's image list "
    "has no such counter)"
)


def absent(refs: Sequence[ImageRef], images: Sequence[Image]) -> list[ImageRef]:
    """The references no selected image matches, once each."""
    seen: dict[str, ImageRef] = {}
    for ref in refs:
        if ref.name not in seen and not any(ref.matches(image) for image in images):
            seen[ref.name] = ref
    return list(seen.values())


def _image(
    lookup: Lookup,
    wanted: set[str],
    records: RecordSource | None,
    deadline: float,
    timeout: float,
) -> Image:
    found = lookup.instance
    assert found is not None
    image = Image(
        namespace=found.namespace,
        repository=found.repository,
        tag=found.tag,
        digest=found.digest,
        uuid=found.uuid,
        image_id=found.image_id,
        ranked_in=(),
        metrics={},
        looked_up=lookup.why,
    )
    metrics: dict[str, int] = {}
    problems: dict[str, str] = {}
    for name in sorted(wanted):
        if name in IMAGE_FIELDS:
            if name in found.counters:
                metrics[name] = found.counters[name]
            else:
                problems[name] = f"{name} is missing or not a number in the image list entry"
        elif name in VUL_COUNTERS:
            if records is None:
                problems[name] = "the vulnerability records could not be fetched"
                continue
            try:
                page = records.fetch(image, VUL_COUNTERS[name], deadline=deadline, timeout=timeout)
            except GateError as exc:
                problems[name] = f"vulnerability records unavailable: {why(exc)}"
                continue
            metrics[name] = page.total
        elif name in DETAIL_COUNTERS:
            problems[name] = UNKNOWN.format(metric=name)
    return dataclasses.replace(image, metrics=metrics, metric_problems=problems)


def look_up(
    refs: Sequence[ImageRef],
    instances: InstanceSource,
    records: RecordSource | None,
    *,
    wanted: set[str],
    deadline: float,
    timeout: float,
    scan: Callable[[Instance], str] | None = None,
) -> tuple[list[Image], list[str]]:
    """The scanned images the references name, and a note for each reference. With
    ``scan`` (``--scan-if-missing``), a listed image that was never scanned is scanned first
    (``scan`` returns a note, or raises SourceError: the run then ends with exit 3)."""
    images: list[Image] = []
    notes: list[str] = []
    for ref in refs:
        try:
            found = instances.find(ref, deadline=deadline, timeout=timeout)
        except GateError as exc:
            notes.append(
                f"could not look {ref.text} up in Security Center's image list: {why(exc)}; "
                "it stays unranked"
            )
            continue
        lookup = decide(ref, found, instances.label)
        if lookup.unscanned is not None and scan is not None:
            note = scan(lookup.unscanned)
            # The wait had its own budget (--wait-timeout): the image's data gets a fresh one.
            deadline = max(deadline, time.monotonic() + timeout)
            lookup = Lookup(
                dataclasses.replace(lookup.unscanned, scan_status=SCANNED),
                f"{ref.text} is not in the ranking: {note}; evaluated with its counters from "
                f"Security Center's image list ({instances.label}) and its vulnerability "
                "records (DescribeImageVulList)",
            )
        if lookup.instance is None:
            notes.append(f"{lookup.why}; it stays unranked")
            continue
        images.append(_image(lookup, wanted, records, deadline, timeout))
        notes.append(lookup.why)
    return images, notes
