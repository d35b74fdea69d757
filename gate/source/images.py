"""Looking up an image the ranking does not list: ``DescribeImageInstances`` (Sas 2018-12-03).

Owns the query for one ``--image`` reference (``Criteria``, a JSON list of
``{"name", "value", "logicalExp"}`` on ``repoNamespace``, ``repoName``, ``tag`` and
``digest``, with ``LogicalExp=AND``), the reading of each untrusted ``ImageInstanceList``
entry, and the decision: which entry is the referenced image, and whether Security Center
has scanned it. The gate checks every returned entry against the reference itself, so a
service that filters loosely (or ignores a criterion) never makes another image stand in.

Field names follow the official SDK's ``DescribeImageInstancesResponseBody`` model:
``RepoNamespace``, ``RepoName``, ``Tag``, ``Digest``, ``Uuid``, ``ImageId``, ``VulCount``,
``HcCount``, ``ScaStatus`` (``SUCCESS`` once scanned), ``LastScanTime`` (epoch ms) and
``PageInfo``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gate.errors import SourceError

if TYPE_CHECKING:
    from gate.imageref import ImageRef
    from gate.source.api import Session

ACTION = "DescribeImageInstances"
PAGE_SIZE = 50
DEMO_IMAGES = Path(__file__).resolve().parent.parent / "data" / "demo-images.json"
SCANNED = "SUCCESS"


@dataclass(frozen=True)
class Instance:
    """One image Security Center lists, cleaned."""

    namespace: str
    repository: str
    tag: str
    digest: str
    uuid: str
    image_id: str
    counters: Mapping[str, int]
    """``VulCount`` and ``HcCount`` when they are whole numbers of 0 or more."""
    scan_status: str
    last_scan: str | None
    """``LastScanTime`` as ISO 8601 UTC."""
    registry_type: str = ""
    repo_id: str = ""
    instance_id: str = ""
    region_id: str = ""

    @property
    def scanned(self) -> bool:
        return self.scan_status == SCANNED or self.last_scan is not None


@dataclass(frozen=True)
class Lookup:
    """What the lookup of one reference found: the scanned image, or why there is none."""

    instance: Instance | None
    why: str
    """A sentence for the report (where the data came from, or why it stays unranked)."""
    unscanned: Instance | None = None
    """The listed image when Security Center has not scanned it (``--scan-if-missing``)."""


class InstanceSource(Protocol):
    @property
    def label(self) -> str: ...

    def find(self, ref: ImageRef, *, deadline: float, timeout: float) -> list[Instance]:
        """Every listed image that is the one ``ref`` names; raises SourceError."""
        ...


def _text(value: object, limit: int = 300) -> str:
    from gate.source.credentials import safe_line

    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return safe_line(str(value), limit).strip()


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def read_instance(raw: object) -> Instance | None:
    """One ``ImageInstanceList`` entry, or None for a non-object."""
    if not isinstance(raw, dict):
        return None
    from gate.source.vulns import iso_time

    counters = {
        name: number
        for name in ("VulCount", "HcCount")
        if (number := _count(raw.get(name))) is not None
    }
    return Instance(
        namespace=_text(raw.get("RepoNamespace"), 200),
        repository=_text(raw.get("RepoName"), 200),
        tag=_text(raw.get("Tag"), 200),
        digest=_text(raw.get("Digest"), 100).lower().removeprefix("sha256:"),
        uuid=_text(raw.get("Uuid"), 100),
        image_id=_text(raw.get("ImageId"), 100),
        counters=counters,
        scan_status=_text(raw.get("ScaStatus"), 40).upper(),
        last_scan=iso_time(raw.get("LastScanTime")),
        registry_type=_text(raw.get("RegistryType"), 40),
        repo_id=_text(raw.get("RepoId"), 100),
        instance_id=_text(raw.get("InstanceId"), 100),
        region_id=_text(raw.get("RegionId"), 64),
    )


def is_the_image(instance: Instance, ref: ImageRef) -> bool:
    """Whether a listed image is exactly the one the reference names."""
    if (instance.namespace, instance.repository) != (ref.namespace, ref.repository):
        return False
    if ref.digest is not None:
        return instance.digest.startswith(ref.digest) and "*" not in instance.digest
    return instance.tag == ref.tag


def criteria(ref: ImageRef) -> str:
    """The ``Criteria`` parameter for a reference."""
    wanted = [("repoNamespace", ref.namespace), ("repoName", ref.repository)]
    if ref.tag is not None:
        wanted.append(("tag", ref.tag))
    if ref.digest is not None and len(ref.digest) == 64:
        wanted.append(("digest", ref.digest))
    return json.dumps(
        [{"name": name, "value": value, "logicalExp": "AND"} for name, value in wanted],
        separators=(",", ":"),
    )


def instances_problem(body: dict[str, Any]) -> str | None:
    if isinstance(body.get("ImageInstanceList"), list):
        return None
    if "ImageInstanceList" not in body:
        return "has no ImageInstanceList list"
    return "has an ImageInstanceList that is not a list"


def decide(ref: ImageRef, found: Sequence[Instance], label: str) -> Lookup:
    """The referenced image among ``found`` (all of them are it), or why none is usable."""
    where = f"Security Center's image list ({label})"
    if not found:
        return Lookup(None, f"{ref.text} is not in {where} either")
    digests = sorted({i.digest for i in found})
    if len(digests) > 1:
        shown = ", ".join(d[:12] for d in digests[:5])
        return Lookup(
            None,
            f"{ref.text} matches {len(digests)} different images in {where} (digests "
            f"{shown}); pin one with @sha256:DIGEST",
        )
    scanned = [i for i in found if i.scanned]
    if not scanned:
        status = found[0].scan_status or "no scan status"
        return Lookup(
            None,
            f"{ref.text} is in {where} but has not been scanned ({status})",
            unscanned=max(found, key=lambda i: i.last_scan or ""),
        )
    best = max(scanned, key=lambda i: i.last_scan or "")
    when = f", last scanned {best.last_scan}" if best.last_scan else ""
    return Lookup(
        best,
        f"{ref.text} is not in the ranking: evaluated with its counters from {where} and "
        f"its vulnerability records (DescribeImageVulList){when}",
    )


@dataclass(frozen=True)
class LiveInstances:
    session: Session
    label: str = f"{ACTION}"

    def find(self, ref: ImageRef, *, deadline: float, timeout: float) -> list[Instance]:
        answer = self.session.call(
            ACTION,
            [
                ("Criteria", criteria(ref)),
                ("LogicalExp", "AND"),
                ("CurrentPage", "1"),
                ("PageSize", str(PAGE_SIZE)),
            ],
            deadline=deadline,
            timeout=timeout,
            what=f"the image list entry of {ref.text}",
            check_body=instances_problem,
        )
        found = (read_instance(raw) for raw in answer.body["ImageInstanceList"])
        return [i for i in found if i is not None and is_the_image(i, ref)]


def load_images_file(path: Path | str) -> list[dict[str, Any]]:
    """Images in the API's shape: a list, or an object with ``ImageInstanceList``."""
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read image list entries from {path}: {exc}") from None
    if isinstance(data, dict):
        data = data.get("ImageInstanceList")
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise SourceError(
            f"{path} holds no image list entries",
            hint="give a JSON list of DescribeImageInstances entries, or "
            '{"ImageInstanceList": [...]}',
        )
    return data


def criteria_matches(raw: Mapping[str, Any], conditions: Sequence[Mapping[str, Any]]) -> bool:
    """Whether an entry passes ``Criteria`` conditions (AND), as the emulator serves them."""
    fields = {
        "repoNamespace": "RepoNamespace",
        "repoName": "RepoName",
        "tag": "Tag",
        "digest": "Digest",
        "imageId": "ImageId",
        "instanceId": "InstanceId",
    }
    for condition in conditions:
        name = str(condition.get("name", ""))
        if name in fields and str(raw.get(fields[name], "")) != str(condition.get("value", "")):
            return False
    return True


@dataclass(frozen=True)
class FileInstances:
    """Image list entries from a file (the bundled demo sample)."""

    entries: tuple[Mapping[str, Any], ...]
    label: str = "bundled sample"

    def find(self, ref: ImageRef, *, deadline: float, timeout: float) -> list[Instance]:
        found = (read_instance(raw) for raw in self.entries)
        return [i for i in found if i is not None and is_the_image(i, ref)]


def demo_instances() -> FileInstances:
    return FileInstances(tuple(load_images_file(DEMO_IMAGES)))
