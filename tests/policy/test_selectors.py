"""Image selectors: NAMESPACE/REPOSITORY[:TAG] globs and sha256 digest prefixes."""

from __future__ import annotations

import pytest

from gate.policy.selectors import SelectorError, glob_matcher, parse_selector
from tests.conftest import image_entry, images_from, make_image, ranking_body

DIGEST = "d97c1348e56eb52902888e6e5673623321b1f19ac45ed532c3114dc0f989abcd"


def matches(
    selector: str, namespace: str = "ns", repository: str = "repo", tag: str = "v1"
) -> bool:
    return parse_selector(selector).matches(make_image(namespace, repository, tag, digest=DIGEST))


@pytest.mark.parametrize(
    ("selector", "tag", "expected"),
    [
        ("ns/repo:app:app01-ubuntu", "app:app01-ubuntu", True),
        ("ns/repo:app:*", "app:app01-ubuntu", True),
        ("ns/repo:*:app01-ubuntu", "app:app01-ubuntu", True),
        ("ns/repo:app", "app:app01-ubuntu", False),
        ("ns/repo:app01-ubuntu", "app:app01-ubuntu", False),
        ("ns/repo:*", "app:app01-ubuntu", True),
    ],
)
def test_tags_may_contain_colons(selector: str, tag: str, expected: bool) -> None:
    assert matches(selector, tag=tag) is expected


@pytest.mark.parametrize("tag", ["v1", "latest", "app:app01-ubuntu", ""])
def test_missing_tag_means_any_tag(tag: str) -> None:
    assert matches("ns/repo", tag=tag)


@pytest.mark.parametrize(
    ("selector", "image", "expected"),
    [
        ("team-*/api:*", ("team-a", "api", "v1"), True),
        ("team-*/api:*", ("team-a", "api-gw", "v1"), False),
        ("team-*/api:*", ("other", "api", "v1"), False),
        ("*/api-*:v1.*", ("x", "api-gw", "v1.2"), True),
        ("*/api-*:v1.*", ("x", "api-gw", "v2.0"), False),
        ("ns/repo?:v1", ("ns", "repo1", "v1"), True),
        ("ns/repo?:v1", ("ns", "repo12", "v1"), False),
        ("ns/repo[0-9]:v1", ("ns", "repo7", "v1"), True),
        ("ns/repo[0-9]:v1", ("ns", "repoX", "v1"), False),
        ("ns/*", ("ns", "any/thing", "v1"), True),
        # globs apply per part: a namespace glob never spills into the repository
        ("n*/repo", ("ns", "repo", "v1"), True),
        ("ns*/po", ("ns", "repo", "v1"), False),
        # exact parts, case-sensitive like registry names
        ("ns/repo:v1", ("ns", "repo", "v1"), True),
        ("NS/repo:v1", ("ns", "repo", "v1"), False),
        ("ns/repo:V1", ("ns", "repo", "v1"), False),
        # regex metacharacters are literal
        ("ns/re.o", ("ns", "repo", "v1"), False),
        ("ns/c++:v1", ("ns", "c++", "v1"), True),
    ],
)
def test_globs_per_part(selector: str, image: tuple[str, str, str], expected: bool) -> None:
    assert matches(selector, *image) is expected


def test_selector_text_is_trimmed() -> None:
    selector = parse_selector("  ns/repo:v1 \n")
    assert selector.text == "ns/repo:v1"
    assert selector.matches(make_image("ns", "repo", "v1"))


def test_whitespace_in_api_data_is_trimmed_before_matching() -> None:
    body = ranking_body(vul_asap=[image_entry(" namespace-01\n", "\trepo ", " app:v1 ")])
    (image,) = images_from(body)
    assert (image.namespace, image.repository, image.tag) == ("namespace-01", "repo", "app:v1")
    assert parse_selector("namespace-01/repo:app:v1").matches(image)
    assert parse_selector("namespace-01/repo:app:*").matches(image)


@pytest.mark.parametrize(
    ("selector", "digest", "expected"),
    [
        ("sha256:d97c1348e56e", DIGEST, True),
        ("sha256:d97c1348e56eb529", DIGEST, True),
        (f"sha256:{DIGEST}", DIGEST, True),
        ("sha256:D97C1348E56E", DIGEST, True),
        ("SHA256:d97c1348e56e", DIGEST, True),
        ("sha256:d97c1348e56e", f"sha256:{DIGEST}", True),
        ("sha256:d97c1348e56e", DIGEST.upper(), True),
        ("sha256:d97c1348e56f", DIGEST, False),
        ("sha256:97c1348e56eb", DIGEST, False),  # a prefix, not a substring
        ("sha256:d97c1348e56e", "", False),
    ],
)
def test_digest_prefixes(selector: str, digest: str, expected: bool) -> None:
    image = make_image(digest=digest)
    assert parse_selector(selector).matches(image) is expected


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        ("sha256:d97c1348e56", "at least 12 hex digits"),  # 11 digits
        ("sha256:", "at least 12 hex digits"),
        ("sha256:zzzzzzzzzzzzzzzz", "hex"),
        ("sha256:d97c1348e56e*", "hex"),
        ("repo-only", "NAMESPACE/REPOSITORY"),
        ("", "NAMESPACE/REPOSITORY"),
        ("/repo", "empty namespace or repository"),
        ("ns/", "empty namespace or repository"),
        ("ns/:v1", "empty namespace or repository"),
    ],
)
def test_malformed_selectors_say_how_to_write_them(selector: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector(selector)
    assert fragment in str(info.value)


def test_glob_matcher_any_of_several_patterns() -> None:
    match = glob_matcher(["prod-*", "production"])
    assert match("prod-eu")
    assert match("production")
    assert not match("productions")
    assert not match("staging")
    assert glob_matcher(["*"])("anything at all")
