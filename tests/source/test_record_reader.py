"""Whole image records in a learnt shape read exactly as :mod:`json` reads them.

Once a record shape has recurred, ``DetailReader.records`` read the records written in it
with one regular expression, and the snapshot's arrays never hand them to :mod:`json`. These
tests build rankings whose records are mostly in the usual shape and partly edited in every
way a file can differ from it (whitespace, escapes, other key orders, repeated keys, odd
values, broken JSON), and require the same images, warnings and errors, message for message,
as a plain :mod:`json` parse of the same text.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.errors import SourceError
from gate.source.normalize import LEARN_AFTER, MAX_TEMPLATES, DetailReader, normalize
from gate.source.snapshot import _load

DETAIL_KEYS = ["account", "imageVulAsap", "imageVulLater", "trojan", "uuid", "vul"]
WANTED = ("imageVulAsap", "imageVulLater", "VulCount", "containerAsap")


def detail(n: int) -> str:
    values = {k: (f"u{n}" if k == "uuid" else n % 7) for k in DETAIL_KEYS}
    return json.dumps(values, separators=(",", ":"))


def record(n: int, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "Uuid": f"uuid-{n}",
        "ImageSize": 1000 + n,
        "Digest": f"{n:064x}",
        "Tag": f"1.{n}",
        "VulCount": n % 5,
        "ImageId": f"id{n}",
        "RepoName": f"repo-{n % 3}",
        "RepoNamespace": "ns",
        "RiskLevelDetail": detail(n),
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not DROP}


DROP = object()


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def body(records: list[str], baseline: list[str] = ()) -> str:  # type: ignore[assignment]
    return (
        '{"RequestId":"r","RiskRankInfo":{"VulAsap":['
        + ",".join(records)
        + '],"Baseline":['
        + ",".join(baseline)
        + "]}}"
    )


def outcome(text: str, fast: bool) -> Any:
    """What a check makes of ``text``: the images and warnings, or the error message."""
    reader = DetailReader(WANTED)
    try:
        parsed = _load(text, "f.json", reader.hook if fast else None)
        if not isinstance(parsed, dict):
            return ("not an object",)
        ranking = normalize(parsed, WANTED)
    except SourceError as exc:
        return ("error", str(exc), exc.hint)
    images = [
        (
            i.namespace,
            i.repository,
            i.tag,
            i.digest,
            i.uuid,
            i.image_id,
            i.ranked_in,
            sorted((k, type(v).__name__, v) for k, v in i.metrics.items()),
            dict(i.metric_problems),
            i.data_error,
        )
        for i in ranking.images
    ]
    return images, ranking.warnings


def test_the_usual_shape_is_learnt_and_read_without_json() -> None:
    text = body([compact(record(n)) for n in range(50)])
    reader = DetailReader(WANTED)
    parsed = _load(text, "f.json", reader.hook)
    entries = parsed["RiskRankInfo"]["VulAsap"]
    assert len(reader.records) == 1
    # the first records teach the shapes (json); the rest are read by the record template
    assert sum(type(e) is tuple for e in entries) == 50 - LEARN_AFTER
    assert outcome(text, True) == outcome(text, False)
    image = normalize(parsed, WANTED).images[-1]
    assert image.metrics == {"imageVulAsap": 49 % 7, "imageVulLater": 49 % 7, "VulCount": 4}
    missing = "containerAsap is missing from RiskLevelDetail"
    assert image.metric_problems == {"containerAsap": missing}


def test_a_repeated_key_after_learning_is_still_refused() -> None:
    good = [compact(record(n)) for n in range(10)]
    repeated = compact(record(10))[:-1] + ',"RepoNamespace":"other"}'
    for text in (body([*good, repeated]), body(good, [repeated])):
        fast, slow = outcome(text, True), outcome(text, False)
        assert fast == slow
        assert fast[0] == "error" and "'RepoNamespace' twice" in fast[1]
    inner = compact(record(11, RiskLevelDetail=detail(11)[:-1] + ',"imageVulAsap":9}'))
    fast = outcome(body([*good, inner]), True)
    assert fast == outcome(body([*good, inner]), False)
    assert "RiskLevelDetail names the key" in fast[0][-1][-1]


@pytest.mark.parametrize("space", [" ", "\t", "\u3000", "\xa0", "\u2028", "\x85", "\u200a"])
def test_names_with_surrounding_whitespace_are_stripped_as_json_records_are(space: str) -> None:
    good = [compact(record(n)) for n in range(10)]
    spaced = [
        compact(record(10, RepoNamespace=space + "ns")),
        compact(record(11, Tag="1.0" + space)),
        compact(record(12, Uuid=space, RepoName=f"a{space}b")),
    ]
    text = body([*good, *spaced])
    assert outcome(text, True) == outcome(text, False)
    images = outcome(text, True)[0]
    assert [i[0] for i in images[10:]] == ["ns", "ns", "ns"]
    assert images[11][2] == "1.0" and images[12][1] == f"a{space}b" and images[12][4] == ""


def test_broken_json_after_learning_names_the_same_place() -> None:
    good = [compact(record(n)) for n in range(10)]
    for broken in (good[3][:-1], good[3] + "]", good[3].replace(":", " ", 1), good[3] + ",,"):
        text = body([*good, broken, *good])
        fast, slow = outcome(text, True), outcome(text, False)
        assert fast == slow
        assert fast[0] == "error" and "not valid JSON at line 1 column" in fast[1]


def test_hostile_shapes_compile_a_bounded_number_of_templates() -> None:
    reader = DetailReader(WANTED)
    records = []
    for width in range(40):  # a new record shape every few records
        for n in range(LEARN_AFTER):
            records.append(compact(record(n, **{f"extra{i}": i for i in range(width)})))
    _load(body(records), "f.json", reader.hook)
    assert 0 < len(reader.records) <= MAX_TEMPLATES


# Texts an API serialiser (or an editor) could write for one value, some valid, some not.
VALUE_TEXTS = st.sampled_from(
    [
        "0",
        "7",
        "007",
        "-1",
        "1.0",
        "1e2",
        "2.5",
        "1e-400",
        "999999999999999999",
        "1000000000000000000",
        "9" * 30,
        "null",
        "true",
        '"3"',
        '" 3 "',
        '"a\\u0062"',
        '"\\/x"',
        '"é"',
        '"\\u00e9"',
        '""',
        '" ns "',
        '"\u3000ns"',  # an ideographic space, written as itself
        '"ns\xa0"',
        '"n\u2028s"',
        "[]",
        "{}",
        '{"a":1}',
    ]
)


@st.composite
def record_texts(draw: st.DrawFn, n: int) -> str:
    """One record: the usual shape (mostly), or that shape edited."""
    text = compact(record(n))
    mode = draw(st.sampled_from(["usual"] * 6 + ["value", "detail", "keys", "text"]))
    if mode == "value":
        key = draw(st.sampled_from(list(record(n))))
        fields = record(n)
        fields[key] = None
        text = compact(fields).replace(f'"{key}":null', f'"{key}":{draw(VALUE_TEXTS)}')
    elif mode == "detail":
        inner = detail(n)
        edit = draw(st.sampled_from(["value", "double", "repeat", "escape", "space", "order"]))
        if edit == "value":
            key = draw(st.sampled_from(DETAIL_KEYS))
            values = json.loads(inner)
            values[key] = None
            inner = compact(values).replace(f'"{key}":null', f'"{key}":{draw(VALUE_TEXTS)}')
        elif edit == "double":
            inner = json.dumps(inner)
        elif edit == "repeat":
            inner = inner[:-1] + ',"imageVulAsap":5}'
        elif edit == "escape":
            inner = inner.replace('"u', '"\\u0075', 1)
        elif edit == "space":
            inner = inner.replace(":", ": ", 1)
        else:
            inner = compact(dict(reversed(json.loads(inner).items())))
        text = compact(record(n, RiskLevelDetail=inner))
        if draw(st.booleans()):  # a serialiser that escapes more than it must
            text = text.replace("/", "\\/").replace('\\"', "\\u0022", 1)
    elif mode == "keys":
        fields = record(n)
        edit = draw(st.sampled_from(["drop", "extra", "order", "repeat", "null detail"]))
        if edit == "drop":
            fields[draw(st.sampled_from(list(fields)))] = DROP
            fields = {k: v for k, v in fields.items() if v is not DROP}
        elif edit == "extra":
            fields["Extra"] = draw(st.sampled_from([1, "x", None, [1], {"a": 1}]))
        elif edit == "order":
            fields = dict(reversed(fields.items()))
        elif edit == "null detail":
            fields["RiskLevelDetail"] = None
        text = compact(fields)
        if edit == "repeat":
            text = text[:-1] + ',"Tag":"again"}'
    elif mode == "text":
        position = draw(st.integers(0, len(text)))
        insert = draw(st.sampled_from([" ", "\n", "\\", '"', ",", "}", "x", "\u2028"]))
        text = text[:position] + insert + text[position:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), count=st.integers(0, 14), baseline=st.integers(0, 4))
def test_any_ranking_reads_the_same_with_and_without_record_templates(
    data: st.DataObject, count: int, baseline: int
) -> None:
    records = [data.draw(record_texts(n)) for n in range(count)]
    again = [data.draw(record_texts(n)) for n in range(baseline)]  # second listings
    text = body(records, again)
    if data.draw(st.booleans()):
        text = text.replace(",", ", ").replace("[", "[\n")
    assert outcome(text, True) == outcome(text, False)


@pytest.mark.parametrize("wanted", [("imageVulAsap",), ("VulCount", "ImageSize"), ("trojan",)])
def test_records_read_for_any_wanted_counters(wanted: tuple[str, ...]) -> None:
    text = body([compact(record(n)) for n in range(12)], [compact(record(3))])
    reader = DetailReader(wanted)
    fast = normalize(_load(text, "f.json", reader.hook), wanted)
    slow = normalize(_load(text, "f.json", None), wanted)
    assert reader.records
    assert fast == slow


@pytest.mark.parametrize("number", ["1\u0662", "2\u0660\u0660", "1.\u0665", "1e\u0662"])
def test_a_number_json_refuses_outside_the_arrays_is_refused(number: str) -> None:
    """Values outside arrays are read by json's C scanner, as json.loads reads them."""
    text = '{"RequestId":"r","PageSize":' + number + ',"RiskRankInfo":{"VulAsap":[]}}'
    fast, slow = outcome(text, True), outcome(text, False)
    assert fast == slow
    assert fast[0] == "error" and "not valid JSON" in fast[1]
