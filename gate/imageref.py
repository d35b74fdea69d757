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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gate.errors import UsageError
from gate.model import Image
from gate.policy.selectors import MIN_DIGEST_PREFIX

_DIGEST = re.compile(rf"sha256:([0-9a-fA-F]{{{MIN_DIGEST_PREFIX},64}})")
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
        if image.namespace != self.namespace or image.repository != self.repository:
            return False
        if self.digest is not None:
            return _hex_digest(image.digest).startswith(self.digest)
        return image.tag == self.tag

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
