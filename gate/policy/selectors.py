"""Image selectors and glob matching.

A selector is ``NAMESPACE/REPOSITORY[:TAG]`` with shell-style globs in each part (split at
the first ``/``, then at the first ``:``; the tag may itself contain ``:``; no tag means any
tag), or ``sha256:`` followed by at least 12 hex digits of a digest (a prefix match).
Matching is case-sensitive, like registry names.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence

from gate.model import Image, Selector

MIN_DIGEST_PREFIX = 12
MISSING_NAMESPACE = "<missing namespace>"  # as gate.source.normalize names it
_HEX = re.compile(r"[0-9a-fA-F]+")


class SelectorError(ValueError):
    """A selector or glob is malformed; the message says how to write it."""


def glob_matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """One compiled predicate for a list of globs (any may match)."""
    if any(p == "*" for p in patterns):
        return lambda value: True
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda value: regex.match(value) is not None


def scope_namespace_matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """A policy's ``scope.namespaces``: the globs, and the namespace the ranking did not give.

    An image without a namespace might be in any, so every scoped policy takes it (and its
    data error makes mandatory rules fail closed). Exclusions and waivers use
    :func:`parse_selector`, which does not: they must not widen to such images.
    """
    matches = glob_matcher(patterns)
    return lambda value: value == MISSING_NAMESPACE or matches(value)


def parse_selector(text: str) -> Selector:
    raw = text.strip()
    if raw.lower().startswith("sha256:"):
        digest = raw[len("sha256:") :].lower()
        if len(digest) < MIN_DIGEST_PREFIX or not _HEX.fullmatch(digest):
            raise SelectorError(
                f"digest selector '{text}' needs at least {MIN_DIGEST_PREFIX} hex digits "
                "after 'sha256:'"
            )
        return Selector(raw, lambda image: _digest_of(image).startswith(digest))
    if "/" not in raw:
        raise SelectorError(
            f"image selector '{text}' must be NAMESPACE/REPOSITORY[:TAG] "
            "(globs allowed, e.g. 'team-*/api:*') or sha256:DIGEST"
        )
    namespace, rest = raw.split("/", 1)
    repository, sep, tag = rest.partition(":")
    if not namespace or not repository:
        raise SelectorError(f"image selector '{text}' has an empty namespace or repository")
    match_ns = glob_matcher([namespace])
    match_repo = glob_matcher([repository])
    match_tag = glob_matcher([tag]) if sep else None

    def matches(image: Image) -> bool:
        return (
            match_ns(image.namespace)
            and match_repo(image.repository)
            and (match_tag is None or match_tag(image.tag))
        )

    return Selector(raw, matches)


def _digest_of(image: Image) -> str:
    digest = image.digest.lower()
    return digest[len("sha256:") :] if digest.startswith("sha256:") else digest
