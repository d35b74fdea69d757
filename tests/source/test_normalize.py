"""Normalising the API body: trimmed names, one image per identity, defensive counters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.errors import SourceError
from gate.source.normalize import normalize, to_number
from tests.conftest import DEMO_IMAGE_NAMES, image_entry, ranking_body


def only_image(entry: dict[str, Any], wanted: Any = None) -> Any:
    ranking = normalize(ranking_body(vul_asap=[entry]), wanted)
    (image,) = ranking.images
    return image


def test_demo_sample_normalises_to_two_trimmed_images(demo_body: dict[str, Any]) -> None:
    ranking = normalize(demo_body)
    assert tuple(i.name for i in ranking.images) == DEMO_IMAGE_NAMES
    first, second = ranking.images
    assert second.namespace == "namespace-01"  # the sample's "namespace-01\n", trimmed
    assert first.ranked_in == ("VulAsap",)
    assert second.ranked_in == ("Baseline",)
    assert first.metrics["imageVulAsap"] == 3
    assert first.metrics["imageVulLater"] == 182
    assert first.metrics["VulCount"] == 1
    assert second.metrics["imageBaselineHigh"] == 1
    assert first.uuid == "6636c286-8063-4c97-8508-6aaf16a8****"
    assert first.digest.startswith("d97c1348e56e")
    assert first.data_error is None and not first.metric_problems
    assert ranking.warnings == ()


def test_names_are_trimmed() -> None:
    image = only_image(image_entry(" ns \n", "\trepo", "v1\r\n", uuid=" u-1 ", digest=" abc "))
    assert (image.namespace, image.repository, image.tag) == ("ns", "repo", "v1")
    assert (image.uuid, image.digest) == ("u-1", "abc")
    assert image.name == "ns/repo:v1"


def test_missing_and_null_names_become_empty() -> None:
    entry = image_entry()
    del entry["Tag"]
    entry["Digest"] = None
    image = only_image(entry)
    assert image.tag == "" and image.digest == ""


# --- one image per identity ------------------------------------------------------------------


def test_same_uuid_in_both_lists_is_one_image_ranked_in_both() -> None:
    entry = image_entry(uuid="u-1", detail={"imageVulAsap": 2})
    ranking = normalize(ranking_body(vul_asap=[entry], baseline=[dict(entry)]))
    (image,) = ranking.images
    assert image.ranked_in == ("VulAsap", "Baseline")
    assert image.metrics["imageVulAsap"] == 2


def test_without_uuid_identity_is_namespace_repository_tag_and_digest() -> None:
    a = image_entry(uuid="", digest="aaa")
    same = image_entry(" ns", "repo ", "v1", uuid="", digest="aaa")  # differs only by spaces
    other_digest = image_entry(uuid="", digest="bbb")
    ranking = normalize(ranking_body(vul_asap=[a, other_digest], baseline=[same]))
    assert [(i.digest, i.ranked_in) for i in ranking.images] == [
        ("aaa", ("VulAsap", "Baseline")),
        ("bbb", ("VulAsap",)),
    ]


def test_different_uuids_are_different_images_even_with_the_same_name() -> None:
    ranking = normalize(
        ranking_body(vul_asap=[image_entry(uuid="u-1"), image_entry(uuid="u-2", digest="cd")])
    )
    assert len(ranking.images) == 2


def test_repeated_entry_in_one_list_is_counted_once() -> None:
    entry = image_entry(uuid="u-1")
    ranking = normalize(ranking_body(vul_asap=[entry, dict(entry)]))
    (image,) = ranking.images
    assert image.ranked_in == ("VulAsap",)


# --- RiskLevelDetail: every oddity is a per-image outcome, not a crash ----------------------


@pytest.mark.parametrize(
    ("detail", "fragment"),
    [
        (None, "missing"),
        ("", "empty"),
        ("   ", "empty"),
        ("{not json", "not valid JSON"),
        ("imageVulAsap=3", "not valid JSON"),
        ("[1, 2]", "not an object"),
        ("5", "not an object"),
        ("null", "not an object"),
        ('"just text"', "not valid JSON"),
        (42, "not a JSON string"),
        ([{"imageVulAsap": 1}], "not a JSON string"),
    ],
)
def test_unusable_detail_is_a_data_error(detail: Any, fragment: str) -> None:
    entry = image_entry()
    if detail is None:
        del entry["RiskLevelDetail"]
    else:
        entry["RiskLevelDetail"] = detail
    image = only_image(entry)
    assert image.data_error is not None
    assert fragment in image.data_error
    assert "imageVulAsap" not in image.metrics
    # the image's own numeric fields are still usable
    assert image.metrics["VulCount"] == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3", 3),
        (" 3 ", 3),
        ("2.5", 2.5),
        ("-1", -1),
        (7, 7),
        (1.5, 1.5),
        (0, 0),
    ],
)
def test_numeric_counters_including_numeric_strings(raw: Any, expected: float) -> None:
    image = only_image(image_entry(detail={"imageVulAsap": raw}))
    assert image.metrics["imageVulAsap"] == expected
    assert "imageVulAsap" not in image.metric_problems


@pytest.mark.parametrize(
    "raw",
    [True, False, "three", "", "0x10", "1_000", "\u0661", [], {}, "NaN", "Infinity", "1e999"],
)
def test_non_numeric_counters_are_metric_problems(raw: Any) -> None:
    image = only_image(image_entry(detail={"imageVulAsap": raw, "imageVulLater": 4}))
    assert "imageVulAsap" not in image.metrics
    assert "imageVulAsap is not a number" in image.metric_problems["imageVulAsap"]
    assert image.metrics["imageVulLater"] == 4  # one bad counter spoils only itself
    assert image.data_error is None


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_json_literals_are_not_numbers(literal: str) -> None:
    entry = image_entry()
    entry["RiskLevelDetail"] = '{"imageVulAsap": ' + literal + "}"
    image = only_image(entry)
    assert "imageVulAsap" not in image.metrics
    assert "not a number" in image.metric_problems["imageVulAsap"]


def test_absurdly_large_counter_is_not_a_number() -> None:
    entry = image_entry()
    entry["RiskLevelDetail"] = '{"imageVulAsap": 1' + "0" * 400 + "}"
    image = only_image(entry)
    assert "imageVulAsap" not in image.metrics


def test_missing_and_null_counters_are_metric_problems() -> None:
    image = only_image(image_entry(detail={"imageVulLater": None}))
    assert "imageVulLater is missing" in image.metric_problems["imageVulLater"]
    assert "imageVulAsap is missing" in image.metric_problems["imageVulAsap"]


def test_non_numeric_image_fields_are_metric_problems() -> None:
    entry = image_entry(VulCount="12", HcCount="many")
    del entry["ImageSize"]
    image = only_image(entry)
    assert image.metrics["VulCount"] == 12
    assert "HcCount is not a number" in image.metric_problems["HcCount"]
    assert "ImageSize is missing" in image.metric_problems["ImageSize"]


def test_doubly_escaped_detail_is_decoded_with_a_warning() -> None:
    inner = json.dumps({"imageVulAsap": 3, "imageVulLater": 182})
    doubly = inner.replace('"', '\\"')  # as printed in the API reference: {\"imageVulAsap\":3}
    ranking = normalize(
        ranking_body(
            vul_asap=[image_entry("a", detail=doubly), image_entry("b", detail=doubly)],
            baseline=[image_entry("c", detail={"imageVulAsap": 0})],
        )
    )
    first, second, _unaffected = ranking.images
    assert first.metrics["imageVulAsap"] == 3
    assert second.metrics["imageVulLater"] == 182
    assert first.data_error is None
    (warning,) = ranking.warnings
    assert "2 image(s)" in warning
    assert "doubly escaped" in warning


def test_detail_encoded_as_a_json_string_is_decoded_with_a_warning() -> None:
    once = json.dumps({"imageVulAsap": 1})
    ranking = normalize(ranking_body(vul_asap=[image_entry(detail=json.dumps(once))]))
    assert ranking.images[0].metrics["imageVulAsap"] == 1
    assert len(ranking.warnings) == 1


def test_detail_already_an_object_is_accepted() -> None:
    entry = image_entry()
    entry["RiskLevelDetail"] = {"imageVulAsap": 5}
    assert only_image(entry).metrics["imageVulAsap"] == 5


def test_only_wanted_metrics_are_kept() -> None:
    image = only_image(
        image_entry(detail={"imageVulAsap": 1, "imageVulLater": 2}), {"imageVulAsap"}
    )
    assert dict(image.metrics) == {"imageVulAsap": 1}
    assert not image.metric_problems


# --- a malformed ranking is a source error (nothing is evaluated) ---------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"RiskRankInfo": None},
        {"RiskRankInfo": []},
        {"RiskRankInfo": {"VulAsap": {"not": "a list"}}},
        {"RiskRankInfo": {"VulAsap": ["not an object"]}},
        {"RiskRankInfo": {"Baseline": [None]}},
    ],
)
def test_malformed_ranking_is_a_source_error(body: dict[str, Any]) -> None:
    with pytest.raises(SourceError) as info:
        normalize(body)
    assert info.value.exit_code == 3


def test_absent_or_null_lists_are_empty() -> None:
    assert normalize({"RiskRankInfo": {}}).images == ()
    assert normalize({"RiskRankInfo": {"VulAsap": None, "Baseline": []}}).images == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), ("1", 1), ("1.5", 1.5), (True, None), (None, None), (float("nan"), None)],
)
def test_to_number(value: Any, expected: Any) -> None:
    assert to_number(value) == expected


# --- property-based: any JSON in the image records is an outcome, never a crash ------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = ["RepoNamespace", "RepoName", "Tag", "Digest", "Uuid", "ImageId", "VulCount", "ImageSize"]


@settings(max_examples=200, deadline=None)
@given(
    fields=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=len(FIELDS)),
    detail=st.one_of(
        JSON_VALUES,
        st.dictionaries(st.sampled_from(["imageVulAsap", "imageVulLater"]), JSON_VALUES).map(
            json.dumps
        ),
    ),
)
def test_any_image_record_normalises_or_is_a_source_error(
    fields: dict[str, Any], detail: Any
) -> None:
    entry = {**image_entry(), **fields, "RiskLevelDetail": detail}
    ranking = normalize(ranking_body(vul_asap=[entry], baseline=[entry]))
    (image,) = ranking.images
    assert all(isinstance(v, str) for v in (image.namespace, image.repository, image.tag))
    for name, value in image.metrics.items():
        assert isinstance(value, (int, float)) and not isinstance(value, bool), name
        assert value == value  # not NaN
    assert set(image.metrics).isdisjoint(image.metric_problems)
