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


KEPT = {"imageVulAsap", "imageVulLater", "VulCount", "HcCount"}


def same_image_twice(first: dict[str, Any], second: dict[str, Any], **entry: Any) -> Any:
    ranking = normalize(
        ranking_body(
            vul_asap=[image_entry("prod", "api", detail=first, **entry)],
            baseline=[image_entry("prod", "api", detail=second, **entry)],
        ),
        KEPT,
    )
    (image,) = ranking.images
    return image, ranking.warnings


DIFFERENT_COUNTERS = (
    "1 image(s) were listed twice with different counters; "
    "the higher value of each counter was used"
)


@pytest.mark.parametrize("uuid", ["u-1", ""], ids=["same-uuid", "no-uuid"])
def test_listings_with_different_counters_keep_the_higher_of_each(uuid: str) -> None:
    image, warnings = same_image_twice(
        {"imageVulAsap": 0, "imageVulLater": 9},
        {"imageVulAsap": 7, "imageVulLater": 2},
        uuid=uuid,
        VulCount=3,
    )
    assert image.ranked_in == ("VulAsap", "Baseline")
    assert image.metrics["imageVulAsap"] == 7
    assert image.metrics["imageVulLater"] == 9
    assert image.metrics["VulCount"] == 3
    assert not image.metric_problems
    assert len(warnings) == 1 and warnings[0].startswith(DIFFERENT_COUNTERS + ": ")


def test_listings_with_different_image_fields_keep_the_higher() -> None:
    ranking = normalize(
        ranking_body(
            vul_asap=[image_entry(uuid="u-1", VulCount=1, HcCount=5)],
            baseline=[image_entry(uuid="u-1", VulCount="4", HcCount=0)],
        ),
        KEPT,
    )
    (image,) = ranking.images
    assert (image.metrics["VulCount"], image.metrics["HcCount"]) == (4, 5)
    assert len(ranking.warnings) == 1 and ranking.warnings[0].startswith(DIFFERENT_COUNTERS + ": ")


def test_identical_listings_give_no_warning() -> None:
    image, warnings = same_image_twice({"imageVulAsap": 2}, {"imageVulAsap": 2.0})
    assert image.metrics["imageVulAsap"] == 2
    assert warnings == ()


@pytest.mark.parametrize("bad_first", [False, True])
@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"imageVulAsap": "many", "imageVulLater": 1}, 'imageVulAsap is not a number: "many"'),
        ({"imageVulAsap": -1, "imageVulLater": 1}, "imageVulAsap is negative: -1"),
        ({"imageVulLater": 1}, "imageVulAsap is missing from RiskLevelDetail"),
    ],
)
def test_a_counter_unusable_in_one_listing_is_a_problem_naming_it(
    bad: dict[str, Any], problem: str, bad_first: bool
) -> None:
    good = {"imageVulAsap": 0, "imageVulLater": 1}
    first, second = (bad, good) if bad_first else (good, bad)
    image, warnings = same_image_twice(first, second, uuid="u-1")
    assert "imageVulAsap" not in image.metrics  # fails closed: not the usable 0
    where, other = ("VulAsap[0]", "Baseline[0]") if bad_first else ("Baseline[0]", "VulAsap[0]")
    assert image.metric_problems["imageVulAsap"] == f"{problem} in {where} ({other} says 0)"
    assert image.metrics["imageVulLater"] == 1
    assert any("only one listing could give" in w for w in warnings)


@pytest.mark.parametrize("bad_first", [False, True])
def test_an_unusable_detail_in_one_listing_makes_the_image_unusable(bad_first: bool) -> None:
    good, bad = {"imageVulAsap": 0}, "{not json"
    image, warnings = same_image_twice(*((bad, good) if bad_first else (good, bad)), uuid="u")
    assert "imageVulAsap" not in image.metrics
    where = "VulAsap[0]" if bad_first else "Baseline[0]"
    assert image.data_error is not None
    assert image.data_error.startswith(f"RiskLevelDetail is not valid JSON in {where}")
    assert image.metrics["VulCount"] == 0  # the records' own fields are still usable
    assert any("only one listing could give" in w for w in warnings)


def test_a_counter_unusable_in_both_listings_stays_a_problem() -> None:
    image, warnings = same_image_twice({"imageVulAsap": "x"}, {"imageVulAsap": "x"})
    assert image.metric_problems["imageVulAsap"] == 'imageVulAsap is not a number: "x"'
    image, warnings = same_image_twice({"imageVulAsap": "x"}, {})
    assert image.metric_problems["imageVulAsap"] == (
        'imageVulAsap is not a number: "x"; '
        "imageVulAsap is missing from RiskLevelDetail in Baseline[0]"
    )
    assert warnings == ()


def test_a_uuid_shared_by_different_images_keeps_both() -> None:
    masked = "6636c286-8063-4c97-8508-6aaf16a8****"
    ranking = normalize(
        ranking_body(
            vul_asap=[
                image_entry("prod", "api", uuid=masked, detail={"imageVulAsap": 0}),
                image_entry("staging", "other", uuid=masked, detail={"imageVulAsap": 4}),
            ],
            baseline=[image_entry("prod", "api", uuid=masked, detail={"imageVulAsap": 0})],
        )
    )
    assert [(i.name, i.ranked_in, i.metrics["imageVulAsap"]) for i in ranking.images] == [
        ("prod/api:v1", ("VulAsap", "Baseline"), 0),
        ("staging/other:v1", ("VulAsap",), 4),
    ]
    assert ranking.warnings == (
        "1 Uuid(s) were shared by different images (their namespace, repository, tag or "
        f"digest differ); each image was evaluated on its own: {masked}",
    )


@pytest.mark.parametrize(
    "change", [{"Tag": "v2"}, {"Digest": "ef" * 32}, {"RepoNamespace": "dev"}, {"RepoName": "x"}]
)
def test_same_uuid_with_another_identity_is_another_image(change: dict[str, str]) -> None:
    entry = image_entry(uuid="u-1")
    ranking = normalize(ranking_body(vul_asap=[entry], baseline=[{**entry, **change}, entry]))
    assert [i.ranked_in for i in ranking.images] == [("VulAsap", "Baseline"), ("Baseline",)]


def test_images_under_a_shared_uuid_each_merge_their_own_listings() -> None:
    a = image_entry("prod", "api", uuid="u", detail={"imageVulAsap": 0})
    b = image_entry("prod", "web", uuid="u", detail={"imageVulAsap": 1})
    ranking = normalize(
        ranking_body(
            vul_asap=[a, b],
            baseline=[{**b, "RiskLevelDetail": '{"imageVulAsap": 3}'}, a],
        )
    )
    assert [(i.name, i.ranked_in, i.metrics["imageVulAsap"]) for i in ranking.images] == [
        ("prod/api:v1", ("VulAsap", "Baseline"), 0),
        ("prod/web:v1", ("VulAsap", "Baseline"), 3),
    ]
    assert any(w.startswith(DIFFERENT_COUNTERS + ": ") for w in ranking.warnings)


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
        (42, "is a number, not a string holding JSON"),
        ([{"imageVulAsap": 1}], "is an array, not a string holding JSON"),
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
        ("-0", 0),
        (7, 7),
        (3.0, 3),
        ("3.0", 3),
        ("3e2", 300),
        ("30E-1", 3),
        (0, 0),
    ],
)
def test_numeric_counters_including_numeric_strings(raw: Any, expected: float) -> None:
    image = only_image(image_entry(detail={"imageVulAsap": raw}))
    assert image.metrics["imageVulAsap"] == expected
    assert "imageVulAsap" not in image.metric_problems


@pytest.mark.parametrize(
    "raw",
    [True, False, "three", "", "0x10", "1_000", "\u0661", [], {}, "NaN", "Infinity"],
)
def test_non_numeric_counters_are_metric_problems(raw: Any) -> None:
    image = only_image(image_entry(detail={"imageVulAsap": raw, "imageVulLater": 4}))
    assert "imageVulAsap" not in image.metrics
    assert "imageVulAsap is not a number" in image.metric_problems["imageVulAsap"]
    assert image.metrics["imageVulLater"] == 4  # one bad counter spoils only itself
    assert image.data_error is None


@pytest.mark.parametrize(
    ("raw", "shown"),
    [(-5, "-5"), ("-1", '"-1"'), (" -3 ", '" -3 "'), (-0.5, "-0.5"), ("-2e1", '"-2e1"')],
)
def test_negative_counters_are_metric_problems(raw: Any, shown: str) -> None:
    image = only_image(image_entry(detail={"imageVulAsap": raw, "imageVulLater": 4}))
    assert "imageVulAsap" not in image.metrics
    assert image.metric_problems["imageVulAsap"] == f"imageVulAsap is negative: {shown}"
    assert image.metrics["imageVulLater"] == 4
    assert image.data_error is None


def test_negative_counter_in_the_raw_json_text_is_a_metric_problem() -> None:
    entry = image_entry()
    entry["RiskLevelDetail"] = '{"imageVulAsap":-5,"imageVulLater":0}'
    image = only_image(entry)
    assert image.metric_problems["imageVulAsap"] == "imageVulAsap is negative: -5"


@pytest.mark.parametrize("name", ["VulCount", "HcCount", "ImageSize"])
@pytest.mark.parametrize("raw", [-1, "-7", -0.25])
def test_negative_image_fields_are_metric_problems(name: str, raw: Any) -> None:
    image = only_image(image_entry(**{name: raw}))
    assert name not in image.metrics
    assert image.metric_problems[name].startswith(f"{name} is negative: ")


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


def test_empty_lists_are_an_empty_ranking() -> None:
    ranking = normalize({"RiskRankInfo": {"VulAsap": [], "Baseline": []}})
    assert ranking.images == () and ranking.warnings == ()


@pytest.mark.parametrize(
    "info",
    [
        {"VulAsap": None, "Baseline": []},
        {"VulAsap": []},
        {"Baseline": []},
    ],
)
def test_one_list_is_enough_and_a_null_list_is_absent(info: dict[str, Any]) -> None:
    ranking = normalize({"RiskRankInfo": info})
    assert ranking.images == () and ranking.warnings == ()


@pytest.mark.parametrize(
    ("info", "found"),
    [
        ({}, "it is empty"),
        ({"VulAsap": None}, "it has 'VulAsap' (null)"),
        ({"VulAsap": None, "Baseline": None}, "it has 'VulAsap' (null), 'Baseline' (null)"),
        ({"Images": [], "Total": 3}, "it has 'Images', 'Total'"),
    ],
)
def test_a_ranking_without_its_lists_is_a_source_error(info: dict[str, Any], found: str) -> None:
    with pytest.raises(SourceError) as error:
        normalize({"RiskRankInfo": info})
    assert error.value.exit_code == 3
    assert "holds neither a VulAsap nor a Baseline list" in error.value.message
    assert f"({found})" in error.value.message


def test_many_unknown_keys_are_named_a_few_at_a_time() -> None:
    info = {f"k{n}": n for n in range(12)}
    with pytest.raises(SourceError) as error:
        normalize({"RiskRankInfo": info})
    assert "'k4' and 7 more key(s)" in error.value.message
    ranking = normalize({"RiskRankInfo": {"VulAsap": [], **info}})
    assert ranking.warnings == (
        "RiskRankInfo has unknown keys 'k0', 'k1', 'k2', 'k3', 'k4' and 7 more (ignored)",
    )


def test_unknown_keys_beside_a_list_are_ignored_with_a_warning() -> None:
    ranking = normalize(
        {"RiskRankInfo": {"VulAsap": [image_entry()], "Extra": [image_entry("other")]}}
    )
    assert [i.name for i in ranking.images] == ["ns/repo:v1"]
    assert ranking.warnings == ("RiskRankInfo has unknown key 'Extra' (ignored)",)


@pytest.mark.parametrize("key", ["vulasap", "BASELINE", " VulAsap", "Vulasap"])
def test_a_case_variant_of_a_list_name_is_a_source_error(key: str) -> None:
    with pytest.raises(SourceError) as error:
        normalize({"RiskRankInfo": {"VulAsap": [image_entry()], key: [image_entry("other")]}})
    assert error.value.exit_code == 3
    assert f"RiskRankInfo has {key!r}, a variant of the list name" in error.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        ("1", 1),
        ("1.5", None),
        (1.5, None),
        (3.0, 3),
        ("3e2", 300),
        ("1e-400", None),
        ("3e-999999", None),
        ("1" * 5000, None),
        ("0" * 50 + "3", None),
        (10**18, 10**18),
        (10**18 + 1, None),
        ("1e19", None),
        (True, None),
        (None, None),
        (float("nan"), None),
    ],
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


COUNTER_VALUES = st.one_of(
    st.integers(-3, 10),
    st.floats(-2, 10, allow_nan=False),
    st.sampled_from(["4", "-1", "x", None, True]),
)


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(
        st.tuples(
            st.sampled_from(["VulAsap", "Baseline"]),
            st.dictionaries(st.sampled_from(["imageVulAsap", "imageVulLater"]), COUNTER_VALUES),
            COUNTER_VALUES,
        ),
        min_size=1,
        max_size=4,
    ),
    uuid=st.sampled_from(["u-1", ""]),
)
def test_listings_of_one_image_merge_to_the_worst_of_each_counter(
    records: list[tuple[str, dict[str, Any], Any]], uuid: str
) -> None:
    lists: dict[str, list[dict[str, Any]]] = {"VulAsap": [], "Baseline": []}
    alone = []  # each record normalised on its own
    for list_name, detail, vul_count in records:
        entry = image_entry(uuid=uuid, detail=detail, VulCount=vul_count)
        lists[list_name].append(entry)
        alone.append(only_image(entry, KEPT))
    ranking = normalize(ranking_body(lists["VulAsap"], lists["Baseline"]), KEPT)
    (image,) = ranking.images
    assert set(image.ranked_in) == {name for name, _, _ in records}
    for name in ("imageVulAsap", "imageVulLater", "VulCount"):
        values = [one.metrics.get(name) for one in alone]
        if any(value is None for value in values):  # unusable in some listing: fails closed
            assert name not in image.metrics
            assert image.metric_problems.get(name) or image.data_error
        else:
            assert image.metrics[name] == max(v for v in values if v is not None)
            assert name not in image.metric_problems
