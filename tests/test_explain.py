"""``gate check --explain`` end to end: the real ``gate`` command, offline with the bundled
sample records and live against the emulator's DescribeImageVulList (with faults)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from lxml import etree

from gate.emulator import DEFAULT_KEY, Emulator, Faults
from tests.conftest import gate_command

VUL_ACTION = "DescribeImageVulList"


def entry(namespace: str, name: str, tag: str, asap: int, later: int = 0) -> dict[str, Any]:
    detail = {"imageVulAsap": asap, "imageVulLater": later, "imageVulNntf": 0}
    return {
        "RepoNamespace": namespace,
        "RepoName": name,
        "Tag": tag,
        "Digest": (name[0] * 64)[:64],
        "Uuid": f"uuid-{name}",
        "ImageId": f"id-{name}",
        "RiskLevelDetail": json.dumps(detail),
    }


RANKING = {
    "RequestId": "R",
    "RiskRankInfo": {
        "VulAsap": [
            entry("prod", "api", "1.0", 2),
            entry("prod", "web", "2.0", 1),
            entry("prod", "clean", "3.0", 0),
        ],
        "Baseline": [],
    },
}


def record(repo: str, tag: str, number: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Name": f"alpine:3.19:CVE-2025-{number:04d}",
        "AliasName": f"CVE-2025-{number:04d}: flaw in lib{number}",
        "Necessity": "asap",
        "CanFix": "yes",
        "FirstTs": 1735689600000 + number * 86_400_000,
        "LastTs": 1764547200000,
        "Status": 1,
        "Related": f"CVE-2025-{number:04d}",
        "RepoNamespace": "prod",
        "RepoName": repo,
        "Tag": tag,
        "ImageDigest": (repo[0] * 64)[:64],
        "ExtendContentJson": {
            "RpmEntityList": [
                {
                    "Name": f"lib{number}",
                    "FullVersion": "1.2.3-r0",
                    "UpdateCmd": f"apk add --upgrade lib{number}",
                    "MatchDetail": f"lib{number} version less than 1.2.4-r0",
                }
            ]
        },
    }
    base.update(fields)
    return base


RECORDS = [
    record("api", "1.0", 11),
    record("api", "1.0", 12, CanFix="no", ExtendContentJson={}),
    record("api", "1.0", 13, Necessity="later"),
    record("web", "2.0", 21),
]


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    options: dict[str, Any] = getattr(request, "param", {})
    with Emulator(RANKING, vul_records=RECORDS, **options) as emu:
        yield emu


def faulty(**faults: Any) -> pytest.MarkDecorator:
    faults.setdefault("action", VUL_ACTION)
    return pytest.mark.parametrize("emulator", [{"faults": Faults(**faults)}], indirect=True)


def gate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith("ALIBABA_CLOUD_")
    }
    env.update(
        ALIBABA_CLOUD_ACCESS_KEY_ID=DEFAULT_KEY.id,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=DEFAULT_KEY.secret,
        HOME=str(tmp_path),
        GATE_CACHE_DIR="",
    )
    return subprocess.run(
        [*gate_command(), "check", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def live(emu: Emulator, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    done = gate(
        tmp_path,
        "--endpoint",
        emu.url,
        "--namespace",
        "prod",
        "--json",
        str(tmp_path / "gate.json"),
        "--retries",
        "1",
        *args,
    )
    return done, json.loads((tmp_path / "gate.json").read_text())


def images(document: Any) -> dict[str, Any]:
    return {f"{i['repository']}:{i['tag']}": i for i in document["images"]}


def vul_queries(emu: Emulator) -> list[dict[str, str]]:
    return [
        dict(parse_qsl(urlsplit(r.path).query))
        for r in emu.received
        if r.headers.get("x-acs-action") == VUL_ACTION
    ]


def test_demo_explains_offline_with_the_bundled_records(tmp_path: Path) -> None:
    done = gate(
        tmp_path,
        "--demo",
        "--explain",
        "--json",
        "gate.json",
        "--junit",
        "gate.xml",
        "--summary",
        "summary.md",
    )
    assert done.returncode == 1, done.stderr
    assert "vulnerability records (3 asap); worst 3 of 3:" in done.stdout
    assert (
        "- CVE-2024-6387 [asap], openssh-server 1:8.9p1-3ubuntu0.7, fixed in "
        "1:8.9p1-3ubuntu0.10, fix: apt-get update && apt-get install --only-upgrade "
        "openssh-server, first seen 2024-07-02"
    ) in done.stdout
    assert "libc6 2.35-0ubuntu3.6, no fix available yet" in done.stdout
    document = json.loads((tmp_path / "gate.json").read_text())
    explained = [i for i in document["images"] if "explanation" in i]
    assert len(explained) == 1  # the baseline-only image has no vulnerability rule failing
    explanation = explained[0]["explanation"]
    assert explanation["available"] and explanation["source"] == "demo"
    assert explanation["totals"] == {"asap": 3}
    assert [r["cves"] for r in explanation["records"]] == [
        ["CVE-2023-38545"],
        ["CVE-2024-6387"],
        ["CVE-2024-2961"],
    ]
    xml = etree.parse(str(tmp_path / "gate.xml"))
    (prop,) = xml.xpath("//property[@name='vulnerabilities']")
    assert "CVE-2024-6387" in prop.get("value")
    summary = (tmp_path / "summary.md").read_text()
    assert "### Vulnerability detail" in summary and "CVE-2023-38545" in summary


def test_without_explain_no_record_is_fetched(emulator: Emulator, tmp_path: Path) -> None:
    done, document = live(emulator, tmp_path)
    assert done.returncode == 1
    assert vul_queries(emulator) == []
    assert all("explanation" not in i for i in document["images"])


def test_live_explain_fetches_the_failing_images_only(emulator: Emulator, tmp_path: Path) -> None:
    done, document = live(emulator, tmp_path, "--explain")
    assert done.returncode == 1, done.stderr
    found = images(document)
    assert "explanation" not in found["clean:3.0"]
    api = found["api:1.0"]["explanation"]
    assert api["available"] and api["source"] == "api" and api["totals"] == {"asap": 2}
    # fixable first, then the rest; the later-priority record is not asked for
    assert [r["name"] for r in api["records"]] == [
        "alpine:3.19:CVE-2025-0011",
        "alpine:3.19:CVE-2025-0012",
    ]
    assert api["records"][0]["packages"][0] == {
        "name": "lib11",
        "version": "1.2.3-r0",
        "fixed_version": "1.2.4-r0",
        "fix_command": "apk add --upgrade lib11",
        "path": None,
    }
    assert [r["name"] for r in found["web:2.0"]["explanation"]["records"]] == [
        "alpine:3.19:CVE-2025-0021"
    ]
    queries = sorted(vul_queries(emulator), key=lambda q: q["RepoName"])
    assert [(q["RepoName"], q["Tag"], q["Necessity"], q["Type"]) for q in queries] == [
        ("api", "1.0", "asap", "cve"),
        ("web", "2.0", "asap", "cve"),
    ]
    assert queries[0]["Digest"] == "a" * 64
    assert "CVE-2025-0011 [asap], lib11 1.2.3-r0, fixed in 1.2.4-r0" in done.stdout
    assert "CVE-2025-0012 [asap], no fix available yet" in done.stdout


@faulty(fail_first=99, fail_status=403, fail_code="NoPermission")
def test_a_refused_record_fetch_keeps_the_verdict_and_says_why(
    emulator: Emulator, tmp_path: Path
) -> None:
    done, document = live(emulator, tmp_path, "--explain")
    assert done.returncode == 1
    assert document["verdict"] == "fail"
    explanation = images(document)["api:1.0"]["explanation"]
    assert not explanation["available"] and explanation["records"] == []
    assert "NoPermission" in explanation["error"]
    assert "yundun-sas:DescribeImageVulList" in explanation["error"]  # the hint: what to grant
    assert "vulnerability detail unavailable: cannot fetch the vulnerability records of " in (
        done.stdout
    )


def test_a_passing_run_with_explain_fetches_nothing_and_passes(tmp_path: Path) -> None:
    policy = tmp_path / "vulns.yaml"
    policy.write_text(
        "version: 1\nname: vulns\nrules:\n  - id: asap\n    fail_if: imageVulAsap > 0\n"
    )
    passing = {"RequestId": "R", "RiskRankInfo": {"VulAsap": [entry("prod", "clean", "1", 0)]}}
    faults = Faults(fail_first=99, fail_code="InternalError", fail_status=500, action=VUL_ACTION)
    with Emulator(passing, faults=faults) as emu:
        done, document = live(emu, tmp_path, "--explain", "--policy", str(policy))
        assert vul_queries(emu) == []
    assert done.returncode == 0 and document["verdict"] == "pass"


@faulty(throttle_first=2, retry_after_ms=50)
def test_throttled_record_fetches_are_retried(emulator: Emulator, tmp_path: Path) -> None:
    done, document = live(emulator, tmp_path, "--explain", "--retries", "3")
    assert done.returncode == 1
    assert all(i["explanation"]["available"] for i in document["images"] if "explanation" in i)
    assert [r.code for r in emulator.received].count("Throttling.User") == 2


def test_at_most_n_images_are_explained(emulator: Emulator, tmp_path: Path) -> None:
    done, document = live(emulator, tmp_path, "--explain", "--explain-max-images", "1")
    assert done.returncode == 1
    explanations = [i["explanation"] for i in document["images"] if "explanation" in i]
    assert [e["available"] for e in explanations] == [True, False]
    assert "--explain-max-images" in explanations[1]["error"]
    assert len(vul_queries(emulator)) == 1
    assert any("raise --explain-max-images" in w for w in document["warnings"])


def test_explanation_stays_inside_the_overall_timeout(tmp_path: Path) -> None:
    # The ranking is answered at once; every record call outlives the deadline.
    faults = Faults(delay=30.0, action=VUL_ACTION)
    with Emulator(RANKING, vul_records=RECORDS, faults=faults) as emu:
        done, document = live(emu, tmp_path, "--explain", "--timeout", "3")
    assert done.returncode == 1
    errors = [i["explanation"]["error"] for i in document["images"] if "explanation" in i]
    assert errors and all("did not answer in time" in e for e in errors), errors


def test_explain_max_images_must_be_positive(tmp_path: Path) -> None:
    done = gate(tmp_path, "--demo", "--explain", "--explain-max-images", "0")
    assert done.returncode == 2


def test_every_image_reference_is_explained_even_when_it_passes(
    emulator: Emulator, tmp_path: Path
) -> None:
    done = gate(
        tmp_path,
        "--endpoint",
        emulator.url,
        "--image",
        "registry.example.com/prod/clean:3.0",
        "--image",
        "prod/api:1.0",
        "--explain",
        "--json",
        "gate.json",
    )
    assert done.returncode == 1, done.stderr
    found = images(json.loads((tmp_path / "gate.json").read_text()))
    clean = found["clean:3.0"]["explanation"]
    assert clean["available"] and clean["totals"] == {"asap": 0, "later": 0}
    assert found["api:1.0"]["explanation"]["totals"] == {"asap": 2, "later": 1}
    assert sorted((q["RepoName"], q["Necessity"]) for q in vul_queries(emulator)) == [
        ("api", "asap"),
        ("api", "later"),
        ("clean", "asap"),
        ("clean", "later"),
    ]


def test_snapshot_explain_fetches_records_live_without_a_misleading_warning(
    emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "ranking.json").write_text(json.dumps(RANKING))
    done = gate(
        tmp_path,
        "--snapshot",
        "ranking.json",
        "--namespace",
        "prod",
        "--endpoint",
        emulator.url,
        "--explain",
        "--json",
        "gate.json",
    )
    assert done.returncode == 1, done.stderr
    document = json.loads((tmp_path / "gate.json").read_text())
    assert images(document)["api:1.0"]["explanation"]["available"]
    assert not any("--endpoint" in w for w in document["warnings"])
    assert [r.headers.get("x-acs-action") for r in emulator.received] == [VUL_ACTION] * 2


def test_explanation_keeps_results_and_both_json_writers_agree() -> None:
    from gate.report.json_report import JsonFormat, to_document
    from gate.run import CheckRequest, run_check

    plain = run_check(CheckRequest(demo=True))
    explained = run_check(CheckRequest(demo=True, explain=True))
    assert explained.summary() == plain.summary() and explained.verdict == plain.verdict
    assert [i.results for i in explained.images] == [i.results for i in plain.images]
    streamed = json.loads(JsonFormat().render(explained))
    assert streamed == json.loads(json.dumps(to_document(explained)))
    assert sum("explanation" in i for i in streamed["images"]) == 1


def emulator_process(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    process = subprocess.Popen(
        [sys.executable, "-m", "gate.emulator", "--port", "0", "--quiet", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("gate emulator listening on http://127.0.0.1:"), line
    return process, line.rsplit(" ", 1)[1].strip()


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()


def test_the_emulator_command_serves_records_from_a_file_with_faults_for_one_action(
    tmp_path: Path,
) -> None:
    (tmp_path / "ranking.json").write_text(json.dumps(RANKING))
    (tmp_path / "vulns.json").write_text(json.dumps({"VulRecords": RECORDS}))
    options = ("--response", "ranking.json", "--vulns", "vulns.json")
    process, url = emulator_process(tmp_path, *options)
    try:
        done, document = live_at(url, tmp_path)
        assert done.returncode == 1, done.stderr
        assert images(document)["api:1.0"]["explanation"]["totals"] == {"asap": 2}
    finally:
        stop(process)
    faults = ("--fault-action", VUL_ACTION, "--fail-first", "9", "--fail-status", "500")
    process, url = emulator_process(tmp_path, *options, *faults)
    try:
        done, document = live_at(url, tmp_path)
        assert done.returncode == 1 and document["verdict"] == "fail"  # the ranking was served
        assert "HTTP 500" in images(document)["api:1.0"]["explanation"]["error"]
    finally:
        stop(process)


def test_the_emulator_command_refuses_a_bad_records_file(tmp_path: Path) -> None:
    (tmp_path / "vulns.json").write_text('{"Records": []}')
    done = subprocess.run(
        [sys.executable, "-m", "gate.emulator", "--port", "0", "--vulns", "vulns.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2
    assert "holds no vulnerability records" in done.stderr and "--vulns" in done.stderr


def live_at(url: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    done = gate(
        tmp_path,
        "--endpoint",
        url,
        "--namespace",
        "prod",
        "--explain",
        "--retries",
        "0",
        "--json",
        "gate.json",
    )
    return done, json.loads((tmp_path / "gate.json").read_text())
