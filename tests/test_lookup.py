"""``--lookup-unranked``: an ``--image`` the ranking does not list, looked up in Security
Center's image list (DescribeImageInstances) and evaluated with its own data; end to end with
the real ``gate`` command against the emulator."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gate.emulator import Emulator, Faults
from tests.test_explain import RANKING, gate, record

INSTANCES_ACTION = "DescribeImageInstances"
VULNS_ONLY = """version: 1
name: vulns
rules:
  - id: urgent
    fail_if: imageVulAsap > 0
  - id: many
    fail_if: VulCount > 10
"""


def instance(
    repo: str, tag: str, digest: str, status: str = "SUCCESS", **fields: Any
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "RepoNamespace": "prod",
        "RepoName": repo,
        "Tag": tag,
        "Digest": digest,
        "Uuid": f"uuid-{repo}-{tag}",
        "ImageId": f"id-{repo}",
        "VulCount": 2,
        "HcCount": 0,
        "ScaStatus": status,
        "RegistryType": "acr",
        "RepoId": f"crr-{repo}",
        "InstanceId": "cri-test",
        "RegionId": "cn-hangzhou",
        "LastScanTime": 1764460800000 if status == "SUCCESS" else 0,
    }
    entry.update(fields)
    return entry


INSTANCES = [
    instance("new", "1.0", "d" * 64),
    instance("fresh", "1.0", "e" * 64, status="INIT"),
    instance("dup", "1", "1" * 64),
    instance("dup", "1", "2" * 64),
    instance("clean", "9", "3" * 64, VulCount=0),
]
RECORDS = [
    record("new", "1.0", 31, ImageDigest="d" * 64),
    record("new", "1.0", 32, ImageDigest="d" * 64, Necessity="later"),
]


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


def run(emu: Emulator, tmp_path: Path, *args: str, policy: str = VULNS_ONLY) -> tuple[int, Any]:
    (tmp_path / "p.yaml").write_text(policy)
    done = gate(
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
    return done.returncode, json.loads((tmp_path / "gate.json").read_text())


def by_name(document: Any) -> dict[str, Any]:
    return {f"{i['repository']}:{i['tag'] or i['digest'][:12]}": i for i in document["images"]}


def actions(emu: Emulator) -> list[str | None]:
    return [r.headers.get("x-acs-action") for r in emu.received]


def test_without_the_flag_an_unranked_image_stays_unranked(
    emulator: Emulator, tmp_path: Path
) -> None:
    code, document = run(emulator, tmp_path, "--image", "prod/new:1.0")
    assert code == 0
    assert by_name(document)["new:1.0"]["results"][0]["rule"] == "unranked"
    assert INSTANCES_ACTION not in actions(emulator)


def test_a_scanned_image_is_evaluated_with_its_own_data(emulator: Emulator, tmp_path: Path) -> None:
    code, document = run(
        emulator, tmp_path, "--image", "reg.example/prod/new:1.0", "--lookup-unranked"
    )
    assert code == 1
    new = by_name(document)["new:1.0"]
    assert new["ranked_in"] == [] and "DescribeImageInstances" in new["looked_up"]
    assert new["digest"] == "d" * 64 and new["uuid"] == "uuid-new-1.0"
    results = {r["rule"]: (r["outcome"], r["message"]) for r in new["results"]}
    assert results == {"urgent": ("fail", "imageVulAsap = 1 > 0"), "many": ("pass", "")}
    assert any("evaluated with its counters" in w for w in document["warnings"])
    assert not any(
        "not in the ranking:" in w and "risk is unknown" in w for w in document["warnings"]
    )


def test_counters_the_image_list_lacks_cannot_pass(emulator: Emulator, tmp_path: Path) -> None:
    code, document = run(
        emulator,
        tmp_path,
        "--image",
        "prod/clean:9",
        "--lookup-unranked",
        policy=VULNS_ONLY.replace(
            "fail_if: VulCount > 10", "fail_if: imageMaliciousFileSerious > 0"
        ),
    )
    assert code == 1
    results = {r["rule"]: r for r in by_name(document)["clean:9"]["results"]}
    assert results["urgent"]["outcome"] == "pass"
    assert results["many"]["outcome"] == "error"
    assert "not known for an image outside the ranking" in results["many"]["message"]


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("prod/fresh:1.0", "has not been scanned (INIT); it stays unranked"),
        ("prod/dup:1", "matches 2 different images"),
        ("prod/nowhere:1", "is not in Security Center's image list"),
    ],
)
def test_images_it_cannot_use_stay_unranked(
    emulator: Emulator, tmp_path: Path, ref: str, says: str
) -> None:
    code, document = run(emulator, tmp_path, "--image", ref, "--lookup-unranked")
    assert code == 0  # --unranked warn
    (image,) = document["images"]
    assert image["results"][0]["rule"] == "unranked" and "looked_up" not in image
    assert any(says in w for w in document["warnings"]), document["warnings"]


def test_a_digest_picks_one_of_several_images(emulator: Emulator, tmp_path: Path) -> None:
    code, document = run(
        emulator, tmp_path, "--image", "prod/dup@sha256:" + "2" * 64, "--lookup-unranked"
    )
    (image,) = document["images"]
    assert image["digest"] == "2" * 64 and image["looked_up"]
    assert code == 0  # no records: imageVulAsap = 0; VulCount 2


@pytest.mark.parametrize(
    "emulator",
    [
        {
            "faults": Faults(
                fail_first=9, fail_status=403, fail_code="NoPermission", action=INSTANCES_ACTION
            )
        }
    ],
    indirect=True,
)
def test_a_refused_lookup_leaves_it_unranked_and_says_why(
    emulator: Emulator, tmp_path: Path
) -> None:
    code, document = run(emulator, tmp_path, "--image", "prod/new:1.0", "--lookup-unranked")
    assert code == 0
    assert by_name(document)["new:1.0"]["results"][0]["rule"] == "unranked"
    (note,) = [w for w in document["warnings"] if "could not look" in w]
    assert "NoPermission" in note and "yundun-sas:DescribeImageInstances" in note


def test_a_snapshot_run_stays_offline_and_says_so(emulator: Emulator, tmp_path: Path) -> None:
    (tmp_path / "ranking.json").write_text(json.dumps(RANKING))
    code, document = run(
        emulator,
        tmp_path,
        "--snapshot",
        "ranking.json",
        "--image",
        "prod/new:1.0",
        "--lookup-unranked",
    )
    assert code == 0 and emulator.received == ()
    assert any("stays offline" in w for w in document["warnings"])


def test_the_demo_looks_up_in_the_bundled_image_list(tmp_path: Path) -> None:
    done = gate(
        tmp_path,
        "--demo",
        "--image",
        "namespace-01/payments-api:2.4.1",
        "--lookup-unranked",
        "--explain",
        "--json",
        "gate.json",
    )
    assert done.returncode == 1  # the default policy's malware rule cannot be evaluated
    assert "not ranked, found in Security Center's image list" in done.stdout
    assert "CVE-2024-5535 [later], libssl3 3.1.4-r5, fixed in 3.1.6-r0" in done.stdout
    (image,) = json.loads((tmp_path / "gate.json").read_text())["images"]
    assert image["explanation"]["totals"] == {"asap": 0, "later": 1}
