"""Saved rankings: raw API bodies, gate envelopes, and everything that is not one."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from gate.errors import SourceError
from gate.source.snapshot import (
    check_max_age,
    parse_duration,
    parse_snapshot,
    read_snapshot,
)
from tests.conftest import DEMO_RESPONSE, ranking_body


def test_raw_api_body_is_read_with_its_request_id() -> None:
    snapshot = read_snapshot(str(DEMO_RESPONSE))
    assert "RiskRankInfo" in snapshot.body
    assert snapshot.info.kind == "snapshot"
    assert snapshot.info.path == str(DEMO_RESPONSE)
    assert snapshot.info.request_id == "30CBF632-109F-596F-97F2-451C8B2A****"
    assert snapshot.info.fetched_at is None


def test_standard_input() -> None:
    data = json.dumps(ranking_body()).encode()
    snapshot = read_snapshot("-", stdin=io.BytesIO(data))
    assert snapshot.info.path == "standard input"
    assert snapshot.body["RiskRankInfo"] == {"VulAsap": [], "Baseline": []}


def test_gate_envelope_records_where_and_when() -> None:
    envelope = {
        "gate_snapshot": 1,
        "fetched_at": "2026-11-28T21:00:00Z",
        "region": "cn-hangzhou",
        "endpoint": "tds.cn-shanghai.aliyuncs.com",
        "request_id": "REQ-1",
        "response": ranking_body(),
    }
    snapshot = parse_snapshot(json.dumps(envelope).encode(), "env.json")
    assert snapshot.body == ranking_body()
    info = snapshot.info
    assert (info.region, info.endpoint, info.request_id, info.fetched_at) == (
        "cn-hangzhou",
        "tds.cn-shanghai.aliyuncs.com",
        "REQ-1",
        "2026-11-28T21:00:00Z",
    )


def test_envelope_without_request_id_falls_back_to_the_body() -> None:
    envelope = {"gate_snapshot": 1, "response": ranking_body()}
    assert parse_snapshot(json.dumps(envelope).encode(), "e").info.request_id == "TEST-REQUEST"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b"{not json", "not valid JSON at line 1 column 2"),
        (b'{"RiskRankInfo": {"VulAsap": [', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[1, 2]", "is an array, not an object"),
        (b'"text"', "is a string, not an object"),
        (b"{}", "no RiskRankInfo object"),
        (b'{"RiskRankInfo": []}', "no RiskRankInfo object"),
        (b'{"RiskRankInfo": null}', "no RiskRankInfo object"),
        (b"<html>502 Bad Gateway</html>", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b'{"gate_snapshot": 2, "response": {}}', "envelope version 2"),
        (b'{"gate_snapshot": 1, "response": []}', "no 'response' object"),
        (b'{"gate_snapshot": 1, "response": {"RiskRankInfo": 5}}', "no RiskRankInfo object"),
    ],
)
def test_unreadable_snapshots_are_source_errors(data: bytes, fragment: str) -> None:
    with pytest.raises(SourceError) as info:
        parse_snapshot(data, "bad.json")
    assert fragment in info.value.message
    assert "bad.json" in info.value.message
    assert info.value.exit_code == 3


def test_api_error_body_is_reported_as_such() -> None:
    body = {"Code": "Forbidden.RAM", "Message": "not authorized", "RequestId": "R-9"}
    with pytest.raises(SourceError) as info:
        parse_snapshot(json.dumps(body).encode(), "err.json")
    assert "Forbidden.RAM" in info.value.message
    assert info.value.request_id == "R-9"


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        read_snapshot(str(tmp_path / "nope.json"))
    assert "cannot read snapshot" in info.value.message
    assert info.value.hint


def test_directory_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        read_snapshot(str(tmp_path))


def envelope(fetched_at: Any) -> Any:
    data = {"gate_snapshot": 1, "fetched_at": fetched_at, "response": ranking_body()}
    return parse_snapshot(json.dumps(data).encode(), "e.json")


NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)


def test_max_age_accepts_a_fresh_snapshot() -> None:
    check_max_age(envelope("2026-11-28T11:00:00Z"), dt.timedelta(hours=2), NOW)


def test_max_age_refuses_an_old_snapshot() -> None:
    with pytest.raises(SourceError) as info:
        check_max_age(envelope("2026-11-27T11:00:00Z"), dt.timedelta(hours=24), NOW)
    assert "older than --max-age 1d" in info.value.message


@pytest.mark.parametrize(
    ("fetched_at", "ahead"),
    [
        ("2099-01-01T00:00:00Z", "26331.5d"),
        ("2026-11-28T12:05:01Z", "5m"),
        ("2026-11-29T13:00:00+01:00", "1d"),
    ],
)
def test_max_age_refuses_a_snapshot_fetched_in_the_future(fetched_at: str, ahead: str) -> None:
    with pytest.raises(SourceError) as info:
        check_max_age(envelope(fetched_at), dt.timedelta(hours=24), NOW)
    assert info.value.exit_code == 3
    assert "has a fetch time in the future" in info.value.message
    assert f"{ahead} ahead of this machine's clock" in info.value.message
    assert info.value.hint is not None and "clock" in info.value.hint


@pytest.mark.parametrize("fetched_at", ["2026-11-28T12:05:00Z", "2026-11-28T12:00:01Z"])
def test_max_age_allows_a_few_minutes_of_clock_difference(fetched_at: str) -> None:
    check_max_age(envelope(fetched_at), dt.timedelta(hours=1), NOW)


@pytest.mark.parametrize("fetched_at", [None, "", "yesterday"])
def test_max_age_refuses_snapshots_without_a_readable_time(fetched_at: Any) -> None:
    with pytest.raises(SourceError):
        check_max_age(envelope(fetched_at), dt.timedelta(hours=24), NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", dt.timedelta(seconds=90)),
        ("15m", dt.timedelta(minutes=15)),
        ("24h", dt.timedelta(hours=24)),
        ("7d", dt.timedelta(days=7)),
        ("1d12h", dt.timedelta(days=1, hours=12)),
    ],
)
def test_parse_duration(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "12", "1w", "-1h"])
def test_parse_duration_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# --- size limit, bounded reads ---------------------------------------------------------------


def test_max_bytes_limits_a_file_and_a_stream(tmp_path: Path) -> None:
    data = json.dumps(ranking_body()).encode()
    path = tmp_path / "r.json"
    path.write_bytes(data)
    assert read_snapshot(str(path), max_bytes=len(data)).body["RiskRankInfo"]
    for source, stdin in ((str(path), None), ("-", io.BytesIO(data))):
        with pytest.raises(SourceError) as error:
            read_snapshot(source, stdin=stdin, max_bytes=len(data) - 1)
        assert "is larger than" in error.value.message
        assert error.value.hint is not None
        assert "--max-snapshot-mb" in error.value.hint


class _Shrinking(io.BytesIO):
    """A regular-looking file whose content ends early (another process truncated it)."""

    def __init__(self, data: bytes, keep: int) -> None:
        super().__init__(data[:keep])


def test_a_stream_that_ends_early_is_a_json_error() -> None:
    data = json.dumps(ranking_body()).encode()
    with pytest.raises(SourceError) as error:
        read_snapshot("-", stdin=_Shrinking(data, len(data) // 2))
    assert "is not valid JSON" in error.value.message


@pytest.mark.parametrize(
    ("text", "kind"),
    [("null", "is null"), ("3", "is a number"), ("true", "is true"), ('"x"', "is a string")],
)
def test_a_document_of_another_kind_is_named_in_json_terms(text: str, kind: str) -> None:
    with pytest.raises(SourceError) as error:
        parse_snapshot(text.encode(), "x.json")
    assert f"snapshot x.json {kind}, not an object" in error.value.message


@pytest.mark.parametrize("text", ["99999999999d", "36501d", "1" * 5000 + "h"])
def test_overlong_durations_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match="too long a duration"):
        parse_duration(text)
