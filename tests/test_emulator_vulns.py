"""DescribeImageVulList on the emulator: driven by the official SDK (an independent client,
so the emulator stays faithful to the service's field names, paging and errors) and by the
gate's own client (:mod:`gate.source.vulns`) over real loopback sockets."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gate.emulator import DEFAULT_KEY, Emulator, Faults
from gate.errors import SourceError
from gate.model import Image
from gate.source import api, vulns
from gate.source.credentials import Credentials

sas = pytest.importorskip("alibabacloud_sas20181203.client")
sas_models = pytest.importorskip("alibabacloud_sas20181203.models")
openapi_models = pytest.importorskip("alibabacloud_tea_openapi.models")

DEMO_IMAGE = dict(
    RepoNamespace="namespace-01", RepoName="lkl-zf-ss-ordapi-labs", Tag="app:app01-ubuntu"
)


def record(number: int, necessity: str = "asap", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Name": f"debian:12:CVE-2025-{number:05d}",
        "AliasName": f"CVE-2025-{number:05d}: something in pkg{number}",
        "Necessity": necessity,
        "CanFix": "yes" if number % 2 else "no",
        "FirstTs": 1700000000000 + number * 86_400_000,
        "LastTs": 1764547200000,
        "Status": 1,
        "Related": f"CVE-2025-{number:05d}",
        "Type": "cve",
        "RepoNamespace": "ns",
        "RepoName": "app",
        "Tag": "1.0",
        "ImageDigest": "a" * 64,
        "ExtendContentJson": {
            "Os": "debian",
            "RpmEntityList": [
                {
                    "Name": f"pkg{number}",
                    "Version": "1.0",
                    "FullVersion": "1.0-1",
                    "UpdateCmd": f"apt-get install --only-upgrade pkg{number}",
                    "MatchDetail": f"pkg{number} version less than 1.0-2",
                }
            ],
        },
    }
    base.update(fields)
    return base


RECORDS = [record(n) for n in range(1, 26)] + [record(100, "later"), record(200, "asap", Tag="2.0")]


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    options: dict[str, Any] = getattr(request, "param", {})
    with Emulator(vul_records=RECORDS, **options) as emu:
        yield emu


def sdk_client(emu: Emulator) -> Any:
    config = openapi_models.Config(
        access_key_id="gate-test-id",
        access_key_secret="gate-test-secret",
        endpoint=emu.url.split("://", 1)[1],
        protocol="http",
        region_id="cn-hangzhou",
    )
    return sas.Client(config)


def runtime() -> Any:
    try:
        from darabonba.runtime import RuntimeOptions
    except ImportError:  # older SDK generations
        from alibabacloud_tea_util.models import RuntimeOptions
    return RuntimeOptions(autoretry=False, read_timeout=10000, connect_timeout=10000)


def sdk_call(emu: Emulator, **params: Any) -> Any:
    request = sas_models.DescribeImageVulListRequest(**params)
    return sdk_client(emu).describe_image_vul_list_with_options(request, runtime())


def test_sdk_reads_filtered_paged_records(emulator: Emulator) -> None:
    response = sdk_call(
        emulator,
        type="cve",
        repo_namespace="ns",
        repo_name="app",
        tag="1.0",
        necessity="asap",
        current_page=3,
        page_size=10,
    )
    body = response.body
    assert (body.total_count, body.current_page, body.page_size) == (25, 3, 10)
    assert [r.name for r in body.vul_records] == [
        f"debian:12:CVE-2025-{n:05d}" for n in range(21, 26)
    ]
    first = body.vul_records[0]
    assert first.necessity == "asap" and first.can_fix == "yes" and first.first_ts > 0
    package = first.extend_content_json.rpm_entity_list[0]
    assert (package.name, package.full_version) == ("pkg21", "1.0-1")
    assert package.update_cmd == "apt-get install --only-upgrade pkg21"
    assert emulator.received[-1].code is None


def test_sdk_filters_by_tag_digest_and_priority(emulator: Emulator) -> None:
    later = sdk_call(emulator, type="cve", repo_namespace="ns", repo_name="app", necessity="later")
    assert [r.name for r in later.body.vul_records] == ["debian:12:CVE-2025-00100"]
    other_tag = sdk_call(emulator, type="cve", repo_name="app", tag="2.0")
    assert other_tag.body.total_count == 1
    wrong_digest = sdk_call(emulator, type="cve", repo_name="app", digest="b" * 64)
    assert wrong_digest.body.total_count == 0 and wrong_digest.body.vul_records == []


def test_sdk_without_the_required_type_is_refused(emulator: Emulator) -> None:
    with pytest.raises(Exception) as caught:
        sdk_call(emulator, repo_name="app")
    assert getattr(caught.value, "code", None) == "MissingType"


@pytest.mark.parametrize("emulator", [{"faults": Faults(throttle_first=1)}], indirect=True)
def test_sdk_sees_the_injected_throttling(emulator: Emulator) -> None:
    with pytest.raises(Exception) as caught:
        sdk_call(emulator, type="cve")
    assert getattr(caught.value, "code", None) == "Throttling.User"
    assert sdk_call(emulator, type="cve").body.total_count == len(RECORDS)


# --- the gate's client ----------------------------------------------------------------------


def image(tag: str = "1.0", digest: str = "a" * 64) -> Image:
    return Image("ns", "app", tag, digest, "u", "i", ("VulAsap",), {})


def source(emu: Emulator, **options: Any) -> vulns.LiveRecords:
    session = api.open_session(
        region="cn-hangzhou",
        endpoint=emu.url,
        credentials=Credentials(DEFAULT_KEY.id, DEFAULT_KEY.secret),
        sleep=lambda seconds: None,
        timeout=10.0,
    )
    return vulns.LiveRecords(session, **options)


def fetch(live: vulns.LiveRecords, target: Image, necessity: str = "asap") -> vulns.Page:
    return live.fetch(target, necessity, deadline=time.monotonic() + 10, timeout=10)


def test_client_pages_through_every_record(emulator: Emulator) -> None:
    page = fetch(source(emulator, page_size=10), image())
    assert page.total == 25 and not page.truncated
    assert len(page.records) == 25 and len(emulator.received) == 3
    first = page.records[0]
    assert first.cves == ("CVE-2025-00001",) and first.can_fix is True
    assert first.packages[0].fixed_version == "1.0-2"
    assert first.first_seen == "2023-11-15T22:13:20Z"


def test_client_stops_at_the_record_limit(emulator: Emulator) -> None:
    page = fetch(source(emulator, page_size=10, max_records=20), image())
    assert page.truncated and page.total == 25 and len(page.records) == 20


def test_client_drops_records_marked_fixed() -> None:
    fixed = [record(1), record(2, Status=7)]
    with Emulator(vul_records=fixed) as emu:
        page = fetch(source(emu), image())
    assert [r.name for r in page.records] == ["debian:12:CVE-2025-00001"]


def test_masked_digest_is_not_sent_as_a_filter(emulator: Emulator) -> None:
    page = fetch(source(emulator), image(digest="aaaa****"))
    assert page.total == 25
    assert "Digest" not in emulator.received[-1].path


@pytest.mark.parametrize(
    "emulator", [{"faults": Faults(throttle_first=2, retry_after_ms=10)}], indirect=True
)
def test_client_retries_throttling(emulator: Emulator) -> None:
    assert fetch(source(emulator), image()).total == 25
    assert [r.code for r in emulator.received] == ["Throttling.User", "Throttling.User", None]


@pytest.mark.parametrize("emulator", [{"faults": Faults(body="no-ranking")}], indirect=True)
def test_client_refuses_an_answer_without_records(emulator: Emulator) -> None:
    with pytest.raises(SourceError) as caught:
        fetch(source(emulator), image())
    assert "vulnerability records of ns/app:1.0" in caught.value.message
    assert "has no VulRecords list" in caught.value.message


@pytest.mark.parametrize(
    "emulator", [{"faults": Faults(fail_first=5, action="DescribeImageVulList")}], indirect=True
)
def test_faults_for_one_action_leave_the_others_alone(emulator: Emulator) -> None:
    ranking = api.fetch_ranking(
        region="cn-hangzhou",
        endpoint=emulator.url,
        credentials=Credentials(DEFAULT_KEY.id, DEFAULT_KEY.secret),
        timeout=10.0,
    )
    assert "RiskRankInfo" in ranking.body
    with pytest.raises(SourceError) as caught:
        fetch(source(emulator), image())
    assert caught.value.code == "ServiceUnavailable"


# --- DescribeImageInstances -----------------------------------------------------------------

INSTANCES = [
    {
        "RepoNamespace": "ns",
        "RepoName": "app",
        "Tag": "1.0",
        "Digest": "a" * 64,
        "Uuid": "u-1",
        "ImageId": "i-1",
        "VulCount": 3,
        "HcCount": 1,
        "ScaStatus": "SUCCESS",
        "LastScanTime": 1764460800000,
    },
    {
        "RepoNamespace": "ns",
        "RepoName": "app",
        "Tag": "2.0",
        "Digest": "b" * 64,
        "ScaStatus": "INIT",
    },
    {"RepoNamespace": "other", "RepoName": "app", "Tag": "1.0", "Digest": "c" * 64},
]


def test_sdk_lists_images_by_criteria() -> None:
    import json

    with Emulator(image_instances=INSTANCES) as emu:
        criteria = json.dumps(
            [
                {"name": "repoNamespace", "value": "ns", "logicalExp": "AND"},
                {"name": "repoName", "value": "app", "logicalExp": "AND"},
            ]
        )
        request = sas_models.DescribeImageInstancesRequest(
            criteria=criteria, logical_exp="AND", current_page=1, page_size=20
        )
        body = sdk_client(emu).describe_image_instances_with_options(request, runtime()).body
        assert body.page_info.total_count == 2 and body.page_info.count == 2
        first = body.image_instance_list[0]
        assert (first.tag, first.vul_count, first.sca_status) == ("1.0", 3, "SUCCESS")
        assert first.last_scan_time == 1764460800000
        request = sas_models.DescribeImageInstancesRequest(criteria="{nope", page_size=20)
        with pytest.raises(Exception) as caught:
            sdk_client(emu).describe_image_instances_with_options(request, runtime())
        assert getattr(caught.value, "code", None) == "InvalidParameter"
