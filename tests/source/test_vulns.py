"""Reading DescribeImageVulList records: every field is untrusted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gate.detail import VulRecord
from gate.model import Image
from gate.source import vulns


def test_a_record_in_the_sdk_shape_is_read() -> None:
    record = vulns.read_record(
        {
            "Name": "debian:10:CVE-2019-9893",
            "AliasName": "CVE-2019-9893: libseccomp",
            "Necessity": "ASAP",
            "CanFix": "yes",
            "FirstTs": 1554048000000,
            "LastTs": "1554048000000",
            "Status": "1",
            "Related": "CVE-2019-9893,cve-2020-0001",
            "ExtendContentJson": json.dumps(
                {
                    "RpmEntityList": [
                        {
                            "Name": "libseccomp2",
                            "Version": "2.3.3",
                            "FullVersion": "2.3.3-4",
                            "UpdateCmd": "apt-get install --only-upgrade libseccomp2",
                            "MatchList": ["libseccomp2 version less than 2.4.1-1"],
                        }
                    ]
                }
            ),
        }
    )
    assert record is not None
    assert record.cves == ("CVE-2019-9893", "CVE-2020-0001")
    assert record.necessity == "asap" and record.can_fix is True and record.status == 1
    assert record.first_seen == record.last_seen == "2019-03-31T16:00:00Z"
    (package,) = record.packages
    assert (package.name, package.version, package.fixed_version) == (
        "libseccomp2",
        "2.3.3-4",
        "2.4.1-1",
    )


@pytest.mark.parametrize(
    "hostile",
    [
        {"Name": "x\x1b[31m\nFAKE", "FirstTs": True, "CanFix": {"a": 1}, "Status": None},
        {"Name": ["list"], "FirstTs": "soon", "ExtendContentJson": "{not json"},
        {"FirstTs": 1e300, "ExtendContentJson": {"RpmEntityList": [1, None, {"Name": 5}]}},
        {"ExtendContentJson": {"RpmEntityList": "nope"}, "Related": "CVE-" + "9" * 5000},
    ],
)
def test_hostile_fields_never_break_reading(hostile: dict[str, Any]) -> None:
    record = vulns.read_record(hostile)
    assert isinstance(record, VulRecord)
    for text in (record.name, record.alias, record.necessity, *record.cves):
        assert "\n" not in text and "\x1b" not in text and len(text) <= 300
    assert record.first_seen is None


def test_non_objects_are_skipped() -> None:
    assert vulns.read_record(["Name"]) is None
    assert vulns.read_record("CVE-2020-1") is None


def test_the_query_names_the_image_and_leaves_out_a_masked_digest() -> None:
    image = Image("ns", "app", "1:2", "abc****", "u", "i", ("VulAsap",), {})
    assert dict(vulns.image_query(image, "later")) == {
        "Type": "cve",
        "Lang": "en",
        "RepoNamespace": "ns",
        "RepoName": "app",
        "Necessity": "later",
        "Tag": "1:2",
    }
    full = Image("ns", "app", "", "sha256:" + "A" * 64, "u", "i", ("VulAsap",), {})
    assert dict(vulns.image_query(full, "asap"))["Digest"] == "a" * 64


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"VulRecords": []}, None),
        ({"RequestId": "R"}, "has no VulRecords list"),
        ({"VulRecords": {"a": 1}}, "has a VulRecords that is not a list"),
    ],
)
def test_an_answer_without_a_record_list_is_refused(
    body: dict[str, Any], problem: str | None
) -> None:
    assert vulns.vul_list_problem(body) == problem


def test_the_bundled_demo_records_are_in_the_api_shape() -> None:
    records = vulns.load_records_file(vulns.DEMO_VULNS)
    assert records and all(vulns.read_record(r) is not None for r in records)
    assert {r["Necessity"] for r in records} == {"asap", "later", "nntf"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_the_pacer_spaces_calls_and_never_waits_past_the_deadline() -> None:
    clock = FakeClock()
    pacer = vulns.Pacer(10.0, monotonic=clock.monotonic, sleep=clock.sleep)
    for _ in range(3):
        pacer.wait(deadline=1000.0)
    assert clock.slept == [0.1, 0.1]  # the first call goes at once
    clock.now += 5.0  # idle time is not banked as a burst beyond one slot
    pacer.wait(deadline=1000.0)
    pacer.wait(deadline=clock.now + 0.05)
    assert clock.slept == [0.1, 0.1, 0.05]
