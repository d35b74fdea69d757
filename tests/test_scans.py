"""``--scan-if-missing``: a never-scanned ``--image`` is scanned before it is evaluated, never
without the flag, and a scan that fails or outlives ``--wait-timeout`` is exit 3 with the task
id; end to end with the real ``gate`` command against the emulator (and the official SDK)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gate.emulator import Emulator
from tests.conftest import gate_command
from tests.test_emulator_vulns import runtime, sdk_client
from tests.test_explain import RANKING, gate, record
from tests.test_lookup import INSTANCES, VULNS_ONLY

CREATE = "PublicCreateImageScanTask"
STATUS = "DescribeImageLatestScanTask"
RECORDS = [record("fresh", "1.0", 41, ImageDigest="e" * 64)]


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    options: dict[str, Any] = getattr(request, "param", {})
    with Emulator(RANKING, vul_records=RECORDS, image_instances=INSTANCES, **options) as emu:
        yield emu


def with_scans(**options: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("emulator", [options], indirect=True)


def run(emu: Emulator, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "p.yaml").write_text(VULNS_ONLY)
    return gate(
        tmp_path,
        "--endpoint",
        emu.url,
        "--policy",
        "p.yaml",
        "--json",
        "gate.json",
        "--retries",
        "0",
        *args,
    )


def actions(emu: Emulator) -> list[str | None]:
    return [r.headers.get("x-acs-action") for r in emu.received]


def test_no_scan_is_started_without_the_flag(emulator: Emulator, tmp_path: Path) -> None:
    done = run(emulator, tmp_path, "--image", "prod/fresh:1.0", "--lookup-unranked")
    assert done.returncode == 0
    assert CREATE not in actions(emulator) and STATUS not in actions(emulator)
    assert "has not been scanned (INIT); it stays unranked" in done.stdout


def test_a_never_scanned_image_is_scanned_then_evaluated(
    emulator: Emulator, tmp_path: Path
) -> None:
    done = run(emulator, tmp_path, "--image", "prod/fresh:1.0", "--scan-if-missing")
    assert done.returncode == 1, done.stdout + done.stderr
    assert actions(emulator).count(CREATE) == 1 and actions(emulator).count(STATUS) == 2
    (image,) = json.loads((tmp_path / "gate.json").read_text())["images"]
    results = {r["rule"]: r["outcome"] for r in image["results"]}
    assert results == {"urgent": "fail", "many": "pass"}
    task = emulator.scan_tasks["e" * 64]["TaskId"]
    assert f"scanned just now by task {task}" in image["looked_up"]
    assert "purchased image scan authorizations" in image["looked_up"]
    create = next(r for r in emulator.received if r.headers.get("x-acs-action") == CREATE)
    for part in ("RepoNames=fresh", "Tags=1.0", "Digests=" + "e" * 64, "RegistryTypes=acr"):
        assert part in create.path


def test_an_image_the_list_does_not_have_is_not_scanned(emulator: Emulator, tmp_path: Path) -> None:
    done = run(emulator, tmp_path, "--image", "prod/nowhere:1", "--scan-if-missing")
    assert done.returncode == 0
    assert CREATE not in actions(emulator)


@with_scans(scan_result="FAIL")
def test_a_failed_scan_is_exit_3_with_the_task_id(emulator: Emulator, tmp_path: Path) -> None:
    done = run(emulator, tmp_path, "--image", "prod/fresh:1.0", "--scan-if-missing")
    assert done.returncode == 3
    task = emulator.scan_tasks["e" * 64]["TaskId"]
    assert f"(task {task}) ended with status FAIL" in done.stderr
    assert json.loads((tmp_path / "gate.json").read_text())["verdict"] == "error"


@with_scans(scan_result="STUCK")
def test_a_scan_that_outlives_the_wait_is_exit_3(emulator: Emulator, tmp_path: Path) -> None:
    done = run(
        emulator, tmp_path, "--image", "prod/fresh:1.0", "--scan-if-missing", "--wait-timeout", "2"
    )
    assert done.returncode == 3
    task = emulator.scan_tasks["e" * 64]["TaskId"]
    assert f"(task {task}) did not finish within --wait-timeout 2s" in done.stderr


def test_scans_need_the_live_api(tmp_path: Path) -> None:
    done = gate(
        tmp_path, "--demo", "--image", "namespace-01/payments-api:2.5.0-rc1", "--scan-if-missing"
    )
    assert done.returncode == 2 and "does not apply to --demo" in done.stderr


def test_help_says_scans_use_purchased_authorizations() -> None:
    text = subprocess.run(
        [*gate_command(), "check", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "PURCHASED IMAGE SCAN AUTHORIZATIONS" in " ".join(text.split())


def test_the_official_sdk_creates_and_follows_a_scan_task(emulator: Emulator) -> None:
    sas_models = pytest.importorskip("alibabacloud_sas20181203.models")
    client = sdk_client(emulator)
    created = client.public_create_image_scan_task_with_options(
        sas_models.PublicCreateImageScanTaskRequest(
            digests="e" * 64,
            repo_names="fresh",
            repo_namespaces="prod",
            tags="1.0",
            region_ids="cn-hangzhou",
            repo_ids="crr-1",
            instance_ids="cri-1",
            registry_types="acr",
        ),
        runtime(),
    ).body.data
    assert created.task_id and created.status == "INIT" and created.can_create is True
    statuses = []
    for _ in range(2):
        body = client.describe_image_latest_scan_task_with_options(
            sas_models.DescribeImageLatestScanTaskRequest(digest="e" * 64), runtime()
        ).body
        statuses.append(body.task[0].status)
        assert body.task[0].task_id == created.task_id
    assert statuses == ["PROCESSING", "SUCCESS"]
