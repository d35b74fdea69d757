"""--image references: parsing (hosts, ports, digests, tags with ':') and matching."""

from __future__ import annotations

import pytest

from gate.errors import UsageError
from gate.imageref import ImageRef, parse_image_ref
from tests.conftest import make_image

DIGEST = "d97c1348e56eb52902888e6e5673623321b1f19ac45ed532c3114dc0f98912ab"


@pytest.mark.parametrize(
    ("text", "registry", "namespace", "repository", "tag", "digest"),
    [
        ("ns/app:1.0", None, "ns", "app", "1.0", None),
        ("ns/app", None, "ns", "app", "latest", None),
        (
            "registry.cn-hangzhou.aliyuncs.com/ns/app:1.0",
            "registry.cn-hangzhou.aliyuncs.com",
            "ns",
            "app",
            "1.0",
            None,
        ),
        (
            "my-ee-registry-vpc.cn-shanghai.cr.aliyuncs.com/team/api:v2",
            "my-ee-registry-vpc.cn-shanghai.cr.aliyuncs.com",
            "team",
            "api",
            "v2",
            None,
        ),
        ("registry.local:5000/ns/app:1", "registry.local:5000", "ns", "app", "1", None),
        ("127.0.0.1:5000/ns/app", "127.0.0.1:5000", "ns", "app", "latest", None),
        ("localhost/ns/app:dev", "localhost", "ns", "app", "dev", None),
        # The ranking's own example: the tag holds a colon.
        (
            "namespace-01/lkl-zf-ss-ordapi-labs:app:app01-ubuntu",
            None,
            "namespace-01",
            "lkl-zf-ss-ordapi-labs",
            "app:app01-ubuntu",
            None,
        ),
        (
            "host:443/namespace-01/lkl:app:app01-ubuntu",
            "host:443",
            "namespace-01",
            "lkl",
            "app:app01-ubuntu",
            None,
        ),
        (f"ns/app@sha256:{DIGEST}", None, "ns", "app", None, DIGEST),
        (f"ns/app:1.0@sha256:{DIGEST.upper()}", None, "ns", "app", "1.0", DIGEST),
        (
            f"registry.local:5000/ns/app:a:b@sha256:{DIGEST}",
            "registry.local:5000",
            "ns",
            "app",
            "a:b",
            DIGEST,
        ),
        ("ns/app@sha256:d97c1348e56e", None, "ns", "app", None, "d97c1348e56e"),
        ("  ns/app:1  ", None, "ns", "app", "1", None),
    ],
)
def test_references_parse_into_their_parts(
    text: str,
    registry: str | None,
    namespace: str,
    repository: str,
    tag: str | None,
    digest: str | None,
) -> None:
    ref = parse_image_ref(text)
    assert (ref.registry, ref.namespace, ref.repository, ref.tag, ref.digest) == (
        registry,
        namespace,
        repository,
        tag,
        digest,
    )
    assert ref.text == text.strip()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "needs a reference"),
        ("nginx", "no namespace"),
        ("nginx:1.25", "no namespace"),
        ("registry.example.com/nginx", "read as the registry host"),
        ("team.a/app:1", "read as the registry host"),
        ("ns/app@sha256:abc", "12 to 64 hex digits"),
        ("ns/app@md5:0123456789abcdef", "sha256"),
        (f"sha256:{DIGEST}", "bare digest"),
        ("ns/app:", "empty tag"),
        ("ns/:1", "empty namespace or repository"),
        ("prod-*/app:1", "glob"),
        ("ns/app:1 ns/other:2", "whitespace"),
    ],
)
def test_malformed_references_are_usage_errors_that_say_how_to_write_them(
    text: str, says: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_image_ref(text)
    assert caught.value.exit_code == 2
    assert says in caught.value.render()


def test_a_namespace_with_a_dot_can_be_written_after_a_host() -> None:
    with pytest.raises(UsageError) as caught:
        parse_image_ref("team.a/app:1")
    assert "registry.cn-hangzhou.aliyuncs.com/team.a/app:1" in caught.value.render()
    ref = parse_image_ref("registry.cn-hangzhou.aliyuncs.com/team.a/app:1")
    assert (ref.namespace, ref.repository, ref.tag) == ("team.a", "app", "1")


def test_matching_ignores_the_registry_host_and_compares_tags_exactly() -> None:
    image = make_image("ns", "app", "app:app01-ubuntu")
    assert parse_image_ref("ns/app:app:app01-ubuntu").matches(image)
    assert parse_image_ref("registry.cn-beijing.aliyuncs.com/ns/app:app:app01-ubuntu").matches(
        image
    )
    assert not parse_image_ref("ns/app:app").matches(image)
    assert not parse_image_ref("ns/app").matches(image)  # means :latest
    assert parse_image_ref("ns/app").matches(make_image("ns", "app", "latest"))
    assert not parse_image_ref("other/app:app:app01-ubuntu").matches(image)
    assert not parse_image_ref("NS/app:app:app01-ubuntu").matches(image)


def test_a_digest_is_matched_instead_of_the_tag() -> None:
    image = make_image("ns", "app", "moved-tag", digest=DIGEST)
    assert parse_image_ref(f"ns/app:old-tag@sha256:{DIGEST}").matches(image)
    assert parse_image_ref("ns/app@sha256:D97C1348E56E").matches(image)  # a prefix
    assert parse_image_ref(f"ns/app@sha256:{DIGEST}").matches(
        make_image("ns", "app", "x", digest=f"sha256:{DIGEST}")
    )
    assert not parse_image_ref(f"ns/app:moved-tag@sha256:{'0' * 64}").matches(image)
    assert not parse_image_ref(f"ns/other@sha256:{DIGEST}").matches(image)
    assert not parse_image_ref(f"ns/app@sha256:{DIGEST}").matches(make_image(digest=""))


def test_names_and_placeholders_for_reports() -> None:
    ref = parse_image_ref(f"host:5000/ns/app@sha256:{DIGEST}")
    assert ref.name == f"ns/app@sha256:{DIGEST}"
    placeholder = ref.placeholder()
    assert placeholder.name == f"ns/app@sha256:{DIGEST}"
    assert not placeholder.ranked
    tagged = parse_image_ref("ns/app:a:b").placeholder()
    assert tagged.name == "ns/app:a:b"
    assert isinstance(ref, ImageRef)


FULL = "d97c1348e56eb52902888e6e5673623321b1f19ac45ed532c3114dc0f989a1b2"


@pytest.mark.parametrize(
    ("ranked", "reference", "matches", "masked"),
    [
        (FULL[:60] + "****", FULL, True, True),
        (FULL[:60] + "****", FULL[:20], True, False),  # every compared digit is visible
        (FULL[:12] + "*" * 52, FULL, True, True),
        (FULL[:11] + "*" * 53, FULL, False, False),  # too little visible
        ("e" + FULL[1:60] + "****", FULL, False, False),
        (FULL[:30] + "****" + FULL[34:], FULL, False, False),
        ("sha256:" + FULL[:60].upper() + "****", FULL, True, True),
    ],
)
def test_masked_ranking_digests(ranked: str, reference: str, matches: bool, masked: bool) -> None:
    from gate.imageref import masked_digest_notes

    ref = parse_image_ref(f"ns/repo@sha256:{reference}")
    image = make_image(digest=ranked)
    assert ref.matches(image) is matches
    assert ref.masked_match(image) is masked
    assert bool(masked_digest_notes([image], [ref])) is masked
