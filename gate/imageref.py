"""Image references given on the command line (``gate check --image REF``).

A reference names one image the way a deploy manifest does::

    [REGISTRY/]NAMESPACE/REPOSITORY[:TAG][@sha256:DIGEST]

Parsing rules, in order:

* ``@`` starts the digest: ``sha256:`` and at least 12 hex digits (a full digest has 64;
  a prefix is matched as a prefix, like the ``sha256:`` policy selectors).
* The first ``/``-separated component is a registry host only if it contains ``.`` or
  ``:`` or is ``localhost`` (Docker's rule), e.g. ``registry.cn-hangzhou.aliyuncs.com``,
  ``my-ee-instance-registry-vpc.cn-shanghai.cr.aliyuncs.com`` or ``host:5000``. The ranking
  carries no registry host, so the host is shown in reports but not matched.
* What remains is split like a policy selector: at the first ``/`` into namespace and the
  rest, then at the first ``:`` into repository and tag. The tag may itself contain ``:``
  (the ranking has tags like ``app:app01-ubuntu``), so
  ``ns/repo:app:app01-ubuntu`` is repository ``repo``, tag ``app:app01-ubuntu``.
* Without tag and digest the tag is ``latest``, which is what a container runtime pulls.

With a digest, an image matches on namespace, repository and digest (the tag is ignored:
tags move, the digest is what will run). Without one it matches on namespace, repository
and tag. Matching is exact and case-sensitive; globs belong in ``--namespace`` and policy
selectors, not here.

Masked digests: the ranking may mask the end of a digest with ``*`` (the API reference
shows ``d97c...f989****``). Such a digest matches a reference's digest when its visible
hex prefix has at least :data:`MIN_VISIBLE_DIGEST` digits and agrees with the reference's
digits as far as both go; the report then says so (:func:`masked_digest_notes`), since the
hidden digits could not be compared. A digest masked anywhere but at its end, or with
fewer visible digits, never matches a reference's digest. (Waivers and scope exclusions
never match masked digests: that would widen them.)

A ranked image whose namespace the ranking did not give (see
:data:`gate.source.normalize.MISSING_NAMESPACE`) matches a reference on repository and
tag or digest alone: it might be the referenced image, and it carries a data error, so
mandatory rules fail closed on it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gate.errors import UsageError
from gate.model import Image
from gate.policy.selectors import MIN_DIGEST_PREFIX
from gate.report.text import one_line

_DIGEST = re.compile(rf"sha256:([0-9a-fA-F]{{{MIN_DIGEST_PREFIX},64}})")
_MASKED = re.compile(r"([0-9a-f]*)\*+")
MIN_VISIBLE_DIGEST = 12
"""The fewest visible hex digits of a masked digest that can match a reference's digest."""
MISSING_NAMESPACE = "<missing namespace>"  # as gate.source.normalize names it
_GLOB = re.compile(r"[*?\[\]]")
FORM = "[REGISTRY/]NAMESPACE/REPOSITORY[:TAG][@sha256:DIGEST]"


class ImageRefError(UsageError):
    """An ``--image`` reference cannot be parsed (exit 2)."""


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One parsed ``--image`` reference."""

    text: str
    """The reference as written (surrounding whitespace removed)."""
    registry: str | None
    """Registry host (with port), or ``None`` when the reference names none."""
    namespace: str
    repository: str
    tag: str | None
    """The tag; ``None`` when only a digest was given."""
    digest: str | None
    """Lower-case hex digits after ``sha256:`` (possibly a prefix), or ``None``."""

    @property
    def name(self) -> str:
        """``namespace/repository[:tag][@sha256:digest]``, without the registry host."""
        base = f"{self.namespace}/{self.repository}"
        if self.tag is not None:
            base += f":{self.tag}"
        if self.digest is not None:
            base += f"@sha256:{self.digest}"
        return base

    def matches(self, image: Image) -> bool:
        if image.repository != self.repository:
            return False
        if image.namespace != self.namespace and not (
            image.namespace == MISSING_NAMESPACE and image.data_error is not None
        ):
            return False
        if self.digest is not None:
            digest = _hex_digest(image.digest)
            return digest.startswith(self.digest) or self._masked_match(digest)
        return image.tag == self.tag

    def _masked_match(self, digest: str) -> bool:
        """Whether a masked ranking digest (hex digits then ``*``) agrees with ours."""
        if self.digest is None or not digest.endswith("*"):
            return False
        match = _MASKED.fullmatch(digest)
        if match is None:
            return False
        visible = match.group(1)
        shared = min(len(visible), len(self.digest))
        return len(visible) >= MIN_VISIBLE_DIGEST and visible[:shared] == self.digest[:shared]

    def masked_match(self, image: Image) -> bool:
        """Whether this reference matches ``image`` only on the visible part of its masked
        digest (the hidden digits were not compared)."""
        if self.digest is None or not self.matches(image):
            return False
        digest = _hex_digest(image.digest)
        return not digest.startswith(self.digest) and self._masked_match(digest)

    def placeholder(self) -> Image:
        """The image this reference names, for reports when the ranking does not list it."""
        return Image(
            namespace=self.namespace,
            repository=self.repository,
            tag=self.tag or "",
            digest=f"sha256:{self.digest}" if self.digest else "",
            uuid="",
            image_id="",
            ranked_in=(),
            metrics={},
        )


def masked_digest_notes(images: Sequence[Image], refs: Sequence[ImageRef]) -> list[str]:
    """A warning for each ``--image`` reference matched on a masked ranking digest."""
    notes = []
    for ref in refs:
        if ref.digest is None:
            continue
        for image in images:
            if ref.masked_match(image):
                visible = len(_MASKED.fullmatch(_hex_digest(image.digest)).group(1))  # type: ignore[union-attr]
                notes.append(
                    f"--image {one_line(ref.text)} matched {one_line(image.name)} on the first "
                    f"{visible} hex digits of its masked digest "
                    f"({one_line(image.digest)[:80]}); the ranking hides the rest, so the "
                    "full digest could not be compared"
                )
    return notes


def _hex_digest(digest: str) -> str:
    text = digest.strip().lower()
    return text[len("sha256:") :] if text.startswith("sha256:") else text


def _is_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_image_ref(text: str) -> ImageRef:
    """Parse one reference; raise :class:`ImageRefError` saying how to write it."""
    raw = text.strip()
    if not raw:
        raise ImageRefError(f"--image needs a reference: {FORM}")
    if _GLOB.search(raw):
        raise ImageRefError(
            f"--image '{raw}' contains a glob; --image names exact images ({FORM})",
            hint="select images by pattern with --namespace 'prod-*' or in a policy's scope",
        )
    if any(c.isspace() for c in raw):
        raise ImageRefError(f"--image '{raw}' contains whitespace; write one reference each")

    name, at, digest_text = raw.partition("@")
    digest: str | None = None
    if at:
        match = _DIGEST.fullmatch(digest_text)
        if match is None:
            raise ImageRefError(
                f"--image '{raw}': the digest after '@' must be sha256: followed by "
                f"{MIN_DIGEST_PREFIX} to 64 hex digits"
            )
        digest = match.group(1).lower()
    elif raw.lower().startswith("sha256:"):
        raise ImageRefError(
            f"--image '{raw}' is a bare digest; name the repository too: "
            "NAMESPACE/REPOSITORY@sha256:DIGEST"
        )

    parts = name.split("/", 1)
    registry: str | None = None
    if len(parts) == 2 and _is_host(parts[0]):
        registry, name = parts[0], parts[1]
    namespace, slash, rest = name.partition("/")
    if not slash:
        hint = (
            f"'{registry}' was read as the registry host because it contains '.' or ':'; "
            f"if it is a namespace, write the host in front: "
            f"registry.cn-hangzhou.aliyuncs.com/{raw}"
            if registry
            else "Container Registry images always have a namespace, e.g. "
            "registry.cn-hangzhou.aliyuncs.com/my-namespace/my-app:1.2"
        )
        raise ImageRefError(f"--image '{raw}' has no namespace; write {FORM}", hint=hint)
    repository, colon, tag = rest.partition(":")
    if not namespace or not repository:
        raise ImageRefError(f"--image '{raw}' has an empty namespace or repository; write {FORM}")
    if colon and not tag:
        raise ImageRefError(f"--image '{raw}' has an empty tag after ':'")
    if not colon:
        tag = "" if digest is not None else "latest"
    return ImageRef(
        text=raw,
        registry=registry,
        namespace=namespace,
        repository=repository,
        tag=tag or None,
        digest=digest,
    )
