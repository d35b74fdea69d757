"""The fast RiskLevelDetail reader gives exactly what the full JSON parse gives, for any input.

``DetailReader`` reads strings in the service's usual shape with a learnt regular expression
and everything else with :mod:`json`. These tests generate strings around that shape (valid
ones, near misses, hostile ones) and require the same metrics, problems, data error and
double-escape flag from both paths, value types included (``0`` is not ``0.0``).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.source.normalize import LEARN_AFTER, Detail, DetailReader, normalize

KEYS = [
    "account",
    "appNum",
    "cveNum",
    "imageBaselineHigh",
    "imageMaliciousFileSerious",
    "imageVulAsap",
    "imageVulLater",
    "imageVulNntf",
    "trojan",
    "uuid",
    "vul",
]
WANTED = ("imageVulAsap", "imageVulLater", "imageBaselineHigh", "trojan", "containerAsap")


def canonical(values: dict[str, Any]) -> str:
    return json.dumps(values, separators=(",", ":"))


def trained(keys: list[str] = KEYS, wanted: tuple[str, ...] = WANTED) -> DetailReader:
    """A reader that has learnt the shape of ``keys`` (int values, uuid a string)."""
    reader = DetailReader(wanted)
    for n in range(LEARN_AFTER):
        reader.read(canonical({k: (f"u{n}" if k == "uuid" else n) for k in keys}))
    assert len(reader._templates) == 1
    return reader


def outcome(detail: Detail) -> tuple[Any, ...]:
    metrics = {k: (type(v).__name__, repr(v)) for k, v in detail.metrics.items()}
    return metrics, dict(detail.problems), detail.error, detail.double


def slow(raw: Any, wanted: tuple[str, ...] = WANTED) -> Detail:
    """The full parse only (a fresh reader has no template)."""
    return DetailReader(wanted).read(raw)


# Value texts around the template's edges: what it accepts and what it must hand to json.
NUMBER_TEXTS = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.sampled_from(
        [
            "0",
            "-0",
            "00",
            "007",
            "1e3",
            "1E3",
            "1.5",
            "1.0",
            "-1",
            "999999999999999999",
            "1000000000000000000",
            "1000000000000000001",
            "9" * 19,
            "9" * 5000,
            "NaN",
            "Infinity",
            "-Infinity",
            "true",
            "false",
            "null",
            "+1",
            ".5",
            "0x10",
            "1_000",
            "٣",
        ]
    ),
)
STRING_TEXTS = st.one_of(
    st.text(max_size=6).map(json.dumps),
    st.text(max_size=6).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.sampled_from(['"3"', '" 3 "', '"3.5"', '"1e3"', '"\\u0033"', '"a\\"b"', '"\t"', '"\x01"']),
    st.text(alphabet='ab"\\\x00\x1f\u2028\ud800', max_size=4).map(lambda s: f'"{s}"'),
)
NESTED_TEXTS = st.sampled_from(["[]", "{}", "[1]", '{"imageVulAsap":1}', "[[[[1]]]]"])
VALUE_TEXTS = st.one_of(NUMBER_TEXTS, STRING_TEXTS, NESTED_TEXTS)


# Values the learnt shape accepts: short integers and strings without escapes.
PLAIN_VALUES = st.one_of(
    st.integers(min_value=-(10**18), max_value=10**18).map(str),
    st.integers(0, 9).map(str),
    st.text(alphabet=st.characters(blacklist_characters='"\\', min_codepoint=32), max_size=5).map(
        lambda s: f'"{s}"'
    ),
)


COUNTS = st.one_of(st.integers(0, 20), st.integers(0, 10**18)).map(str)
STRINGS = st.text(
    alphabet=st.characters(blacklist_characters='"\\', min_codepoint=32), max_size=5
).map(lambda s: f'"{s}"')


@st.composite
def detail_texts(draw: st.DrawFn) -> str:
    """A detail string in the learnt shape, or close to it: an odd value, other keys, edits."""
    mode = draw(st.sampled_from(["plain", "plain", "odd value", "other keys", "edited"]))
    keys = list(KEYS)
    if mode == "other keys":
        if draw(st.booleans()):
            keys = draw(st.permutations(keys))
        if draw(st.booleans()):
            keys = keys[: draw(st.integers(0, len(keys)))]
        if draw(st.booleans()):
            keys.append(draw(st.sampled_from([*KEYS, "extra", "imageVulAsap", "a\\u0062"])))
    # Values of the kind the learnt shape has (a string for uuid, integers else), mostly.
    values = [
        draw(
            st.one_of(STRINGS if key == "uuid" else COUNTS, PLAIN_VALUES)
            if draw(st.integers(0, 9)) == 0
            else STRINGS
            if key == "uuid"
            else COUNTS
        )
        for key in keys
    ]
    if mode == "odd value" and keys:
        values[draw(st.integers(0, len(keys) - 1))] = draw(VALUE_TEXTS)
    text = "{" + ",".join(f'"{k}":{v}' for k, v in zip(keys, values, strict=True)) + "}"
    for _ in range(draw(st.integers(1, 2)) if mode == "edited" else 0):
        position = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["space", "delete", "insert", "truncate", "escape"]))
        if edit == "space":
            text = (
                text[:position] + draw(st.sampled_from([" ", "\n", "\t", "\r"])) + text[position:]
            )
        elif edit == "delete":
            text = text[:position] + text[position + 1 :]
        elif edit == "insert":
            text = text[:position] + draw(st.sampled_from(list(',:{}[]"\\0-e.'))) + text[position:]
        elif edit == "truncate":
            text = text[:position]
        else:  # the API reference's doubly escaped form, or a JSON string holding the object
            text = json.dumps(text)[1:-1] if draw(st.booleans()) else json.dumps(text)
    return text


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=detail_texts(), pad=st.sampled_from(["", " ", "\n", "\u3000"]))
def test_the_fast_path_agrees_with_the_full_parse(text: str, pad: str) -> None:
    raw = pad + text + pad
    assert outcome(trained().read(raw)) == outcome(slow(raw))


@settings(max_examples=200, deadline=None)
@given(
    raw=st.one_of(
        st.none(),
        st.integers(),
        st.floats(allow_nan=True),
        st.booleans(),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.sampled_from(KEYS), st.integers() | st.text(max_size=3), max_size=4),
        st.text(max_size=30),
    )
)
def test_any_value_reads_the_same_both_ways(raw: Any) -> None:
    assert outcome(trained().read(raw)) == outcome(slow(raw))


def test_the_usual_shape_takes_the_fast_path_and_keeps_only_wanted_counters() -> None:
    reader = trained()
    text = canonical({k: ("x" if k == "uuid" else 7) for k in KEYS})
    assert reader._templates[0].fullmatch(text) is not None
    detail = reader.read(text)
    assert detail.metrics == {
        "imageVulAsap": 7,
        "imageVulLater": 7,
        "imageBaselineHigh": 7,
        "trojan": 7,
    }
    assert detail.problems == {"containerAsap": "containerAsap is missing from RiskLevelDetail"}


def test_a_shape_is_learnt_only_after_it_recurs_and_only_so_many_shapes() -> None:
    reader = DetailReader(WANTED)
    for n in range(LEARN_AFTER - 1):
        reader.read(canonical({"imageVulAsap": n}))
    assert not reader._templates
    reader.read(canonical({"imageVulAsap": 9}))
    assert len(reader._templates) == 1
    for width in range(1, 200):  # hostile data: a new shape per image
        for n in range(LEARN_AFTER):
            reader.read(canonical({f"k{i}": n for i in range(width)}))
    assert len(reader._templates) <= 8


def test_keys_that_need_escaping_are_never_learnt() -> None:
    reader = DetailReader(WANTED)
    for n in range(2 * LEARN_AFTER):
        reader.read(canonical({"a b": n, "imageVulAsap": n}))
        reader.read(canonical({'a"b': n, "imageVulAsap": n}))
    assert not reader._templates


def test_a_body_read_for_other_rules_is_refused() -> None:
    body = json.loads(
        canonical_body([{"Uuid": "u", "RiskLevelDetail": canonical({"imageVulAsap": 1})}]),
        object_hook=DetailReader(["imageVulAsap"]).hook,
    )
    try:
        normalize(body, ["imageVulLater"])
    except ValueError as exc:
        assert "other metrics" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a body read for other metrics was used")


def canonical_body(entries: list[dict[str, Any]], baseline: list[dict[str, Any]] = []) -> str:  # noqa: B006
    return json.dumps({"RiskRankInfo": {"VulAsap": entries, "Baseline": baseline}})


ENTRY = st.fixed_dictionaries(
    {
        "Uuid": st.sampled_from(["", " ", "u1", "u2", "u1 ", "u3"]),
        "RepoNamespace": st.sampled_from(["ns", " ns", "other"]),
        "RepoName": st.sampled_from(["a", "b"]),
        "Tag": st.sampled_from(["1", "app:1"]),
        "Digest": st.sampled_from(["", "d1", " d1"]),
        "VulCount": st.one_of(st.integers(-2, 2), st.just("3"), st.none()),
    },
    optional={"RiskLevelDetail": st.one_of(detail_texts(), st.none(), st.integers())},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    vul_asap=st.lists(ENTRY, max_size=6),
    baseline=st.lists(ENTRY, max_size=6),
    wanted=st.sets(st.sampled_from([*WANTED, "VulCount", "account"]), min_size=1),
)
def test_reading_while_parsing_gives_the_same_images(
    vul_asap: list[dict[str, Any]], baseline: list[dict[str, Any]], wanted: set[str]
) -> None:
    text = canonical_body(vul_asap, baseline)
    for repeat in range(LEARN_AFTER):  # teach the hook's reader the usual shape too
        vul_asap.append(
            {"Uuid": f"t{repeat}", "RiskLevelDetail": canonical(dict.fromkeys(KEYS, 1))}
        )
    text = canonical_body(vul_asap, baseline)
    plain = normalize(json.loads(text), wanted)
    hooked = normalize(json.loads(text, object_hook=DetailReader(wanted).hook), wanted)

    def shape(ranking: Any) -> list[tuple[Any, ...]]:
        return [
            (
                i.namespace,
                i.repository,
                i.tag,
                i.uuid,
                i.ranked_in,
                sorted((k, type(v).__name__, repr(v)) for k, v in i.metrics.items()),
                dict(i.metric_problems),
                i.data_error,
            )
            for i in ranking.images
        ]

    assert shape(hooked) == shape(plain)
    assert hooked.warnings == plain.warnings


def test_a_negative_counter_is_a_problem_on_both_paths() -> None:
    """The template reads only non-negative integers; a string may still hold "-1"."""
    as_strings = DetailReader(WANTED)
    for n in range(LEARN_AFTER):  # learn a shape where the counters are strings
        as_strings.read(canonical({"imageVulAsap": str(n), "imageVulLater": str(n)}))
    assert len(as_strings._templates) == 1
    for text in (
        canonical({"imageVulAsap": "-1", "imageVulLater": "2"}),
        canonical({"imageVulAsap": -1, "imageVulLater": "2"}),
    ):
        fast, full = as_strings.read(text), slow(text)
        assert outcome(fast) == outcome(full)
        assert "imageVulAsap is negative" in fast.problems["imageVulAsap"]
        assert fast.metrics["imageVulLater"] == 2
    integers = trained()
    text = canonical({k: ("x" if k == "uuid" else -3 if k == "trojan" else 1) for k in KEYS})
    assert outcome(integers.read(text)) == outcome(slow(text))
    assert integers.read(text).problems["trojan"] == "trojan is negative: -3"


def test_the_hook_reads_every_listing_of_a_uuid() -> None:
    first = {"Uuid": "u", "RepoNamespace": "ns", "RiskLevelDetail": canonical({"imageVulAsap": 0})}
    again = {"Uuid": "u", "RepoNamespace": "ns", "RiskLevelDetail": canonical({"imageVulAsap": 7})}
    body = json.loads(canonical_body([first], [again]), object_hook=DetailReader(WANTED).hook)
    vul_asap, baseline = body["RiskRankInfo"]["VulAsap"], body["RiskRankInfo"]["Baseline"]
    assert isinstance(vul_asap[0]["RiskLevelDetail"], Detail)
    assert isinstance(baseline[0]["RiskLevelDetail"], Detail)
    (image,) = normalize(body, WANTED).images
    assert image.metrics["imageVulAsap"] == 7
