"""Rules on vulnerability records (``fixableVulAsap``, ``vulAsapOlderThan30d``) end to end:
the real ``gate`` command against the emulator's DescribeImageVulList, fail closed."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from gate.detail import VulPackage, VulRecord
from gate.emulator import Emulator, Faults
from gate.records import count
from tests.conftest import gate_command
from tests.test_explain import RANKING, RECORDS, VUL_ACTION, gate

POLICY = """version: 1
name: records
rules:
  - id: fixable-urgent
    fail_if: fixableVulAsap > 0
  - id: urgent-sla
    fail_if: vulAsapOlderThan30d > 0
    enforcement: advisory
"""


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


def run(emu: Emulator, tmp_path: Path, policy: str = POLICY, *args: str) -> tuple[int, Any, str]:
    (tmp_path / "p.yaml").write_text(policy)
    done = gate(
        tmp_path,
        "--endpoint",
        emu.url,
        "--namespace",
        "prod",
        "--policy",
        "p.yaml",
        "--json",
        "gate.json",
        "--retries",
        "0",
        *args,
    )
    document = json.loads((tmp_path / "gate.json").read_text())
    return done.returncode, document, done.stdout + done.stderr


def outcomes(document: Any) -> dict[str, dict[str, tuple[str, str]]]:
    return {
        f"{i['repository']}:{i['tag']}": {
            r["rule"]: (r["outcome"], r["message"]) for r in i["results"]
        }
        for i in document["images"]
    }


def vul_queries(emu: Emulator) -> list[dict[str, str]]:
    return [
        dict(parse_qsl(urlsplit(r.path).query))
        for r in emu.received
        if r.headers.get("x-acs-action") == VUL_ACTION
    ]


def test_fixable_and_age_metrics_count_the_records(emulator: Emulator, tmp_path: Path) -> None:
    # api:1.0 has two open asap records, one fixable; first seen 2025-01-12 and 2025-01-13.
    code, document, output = run(emulator, tmp_path, POLICY, "--now", "2025-02-20")
    assert code == 1, output
    found = outcomes(document)
    assert found["api:1.0"]["fixable-urgent"] == ("fail", "fixableVulAsap = 1 > 0")
    assert found["api:1.0"]["urgent-sla"] == ("warn", "vulAsapOlderThan30d = 2 > 0 (advisory)")
    assert found["clean:3.0"]["fixable-urgent"][0] == "pass"
    # each image and priority is asked for once, whatever the number of rules
    assert sorted((q["RepoName"], q["Necessity"]) for q in vul_queries(emulator)) == [
        ("api", "asap"),
        ("clean", "asap"),
        ("web", "asap"),
    ]
    code, document, _ = run(emulator, tmp_path, POLICY, "--now", "2025-02-10")
    assert outcomes(document)["api:1.0"]["urgent-sla"][0] == "pass"


def test_only_images_a_record_rule_applies_to_are_fetched(
    emulator: Emulator, tmp_path: Path
) -> None:
    policy = POLICY.replace(
        "fail_if: fixableVulAsap > 0",
        "fail_if: fixableVulAsap > 0\n    scope: {repositories: [web]}",
    )
    policy = policy.replace(
        "    fail_if: vulAsapOlderThan30d > 0\n", "    fail_if: imageVulAsap > 99\n"
    )
    code, _document, _ = run(emulator, tmp_path, policy)
    assert code == 1
    assert [q["RepoName"] for q in vul_queries(emulator)] == ["web"]


@pytest.mark.parametrize(
    "emulator",
    [
        {
            "faults": Faults(
                fail_first=99, fail_status=403, fail_code="NoPermission", action=VUL_ACTION
            )
        }
    ],
    indirect=True,
)
def test_a_failed_record_fetch_fails_closed(emulator: Emulator, tmp_path: Path) -> None:
    code, document, _output = run(emulator, tmp_path)
    assert code == 1 and document["verdict"] == "fail"
    found = outcomes(document)
    outcome, message = found["clean:3.0"]["fixable-urgent"]
    assert outcome == "error"  # a clean image too: no records, no pass
    assert "vulnerability records unavailable" in message and "NoPermission" in message
    assert found["clean:3.0"]["urgent-sla"][0] == "warn"  # advisory: warns, never passes


def test_demo_counts_the_bundled_records(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(POLICY)
    done = gate(tmp_path, "--demo", "--policy", "p.yaml", "--now", "2025-06-01")
    assert done.returncode == 1
    assert "fixableVulAsap = 2 > 0" in done.stdout
    assert "vulAsapOlderThan30d = 3 > 0 (advisory)" in done.stdout


def test_metrics_and_schema_list_the_record_metrics() -> None:
    listing = subprocess.run(
        [*gate_command(), "metrics"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("fixableVulAsap", "fixableVulLater", "fixableVulNntf", "OlderThan{N}d"):
        assert name in listing
    schema = subprocess.run(
        [*gate_command(), "schema"], capture_output=True, text=True, check=True
    ).stdout
    assert "vulAsapOlderThan30d" in schema and "fixableVulAsap" in schema


@pytest.mark.parametrize(
    ("condition", "code", "says"),
    [
        ("vulLaterOlderThan90d > 3", 0, "ok"),
        ("vulAsapOlderThan0d > 0", 2, "unknown metric"),
        ("vulAsapOlderThan9999d > 0", 2, "unknown metric"),
        ("fixableVulAsp > 0", 2, "did you mean 'fixableVulAsap'"),
    ],
)
def test_validate_knows_the_record_metrics(
    tmp_path: Path, condition: str, code: int, says: str
) -> None:
    (tmp_path / "p.yaml").write_text(
        f"version: 1\nname: p\nrules:\n  - id: r\n    fail_if: {condition}\n"
    )
    done = subprocess.run(
        [*gate_command(), "validate", str(tmp_path / "p.yaml")], capture_output=True, text=True
    )
    assert done.returncode == code
    assert says in done.stdout + done.stderr


def record(
    necessity: str, can_fix: bool | None, first_seen: str | None, fix: str = ""
) -> VulRecord:
    packages = (VulPackage("p", "1", fix_command=fix),) if fix else ()
    return VulRecord("n", "a", necessity, (), packages, can_fix, first_seen)


def test_counting_rules() -> None:
    now = dt.date(2025, 3, 1)
    records = [
        record("asap", True, "2025-01-01T00:00:00Z"),
        record("asap", False, "2025-02-28T00:00:00Z", fix="apk add --upgrade p"),
        record("asap", None, None),  # no first-seen time: counted as old (fail closed)
        record("later", True, "2020-01-01T00:00:00Z"),
    ]
    assert count("fixableVulAsap", records, now) == 2
    assert count("fixableVulLater", records, now) == 1
    assert count("vulAsapOlderThan30d", records, now) == 2
    assert count("vulAsapOlderThan59d", records, now) == 1
    assert count("vulNntfOlderThan1d", records, now) == 0


# --- waivers by vulnerability (cves:) -------------------------------------------------------

WAIVED = """version: 1
name: records
rules:
  - id: fixable-urgent
    fail_if: fixableVulAsap > 0
waivers:
  - rule: fixable-urgent
    cves: [{cves}]
    {images}reason: upstream fix pending, SEC-42
    expires: 2025-03-31
"""


def waived(cves: str, images: str = "") -> str:
    return WAIVED.format(cves=cves, images=f"images: [{images}]\n    " if images else "")


def test_a_cve_waiver_leaves_its_records_out(emulator: Emulator, tmp_path: Path) -> None:
    code, document, output = run(
        emulator, tmp_path, waived("cve-2025-0011, CVE-2025-0021"), "--now", "2025-02-01"
    )
    assert code == 0, output
    found = outcomes(document)
    assert found["api:1.0"]["fixable-urgent"][0] == "pass"
    assert found["web:2.0"]["fixable-urgent"][0] == "pass"
    (waiver,) = document["waivers"]
    assert waiver["cves"] == ["CVE-2025-0011", "CVE-2025-0021"]
    assert (waiver["status"], waiver["uses"]) == ("active", 2)


def test_a_cve_waiver_only_on_the_images_it_names(emulator: Emulator, tmp_path: Path) -> None:
    policy = waived("CVE-2025-0011, CVE-2025-0021", images="prod/web:*")
    code, document, _ = run(emulator, tmp_path, policy, "--now", "2025-02-01")
    assert code == 1
    found = outcomes(document)
    assert found["api:1.0"]["fixable-urgent"] == ("fail", "fixableVulAsap = 1 > 0")
    assert found["web:2.0"]["fixable-urgent"][0] == "pass"


def test_a_partly_used_cve_waiver_is_named_in_the_failure(tmp_path: Path) -> None:
    other = {"Name": "alpine:3.19:CVE-2025-0099", "Related": "", "AliasName": "CVE-2025-0099"}
    records = [*RECORDS, {**RECORDS[0], **other}]
    with Emulator(RANKING, vul_records=records) as emu:
        code, document, _ = run(emu, tmp_path, waived("CVE-2025-0011"), "--now", "2025-03-25")
    assert code == 1
    assert outcomes(document)["api:1.0"]["fixable-urgent"] == (
        "fail",
        "fixableVulAsap = 1 > 0 (not counting CVE-2025-0011: waived until 2025-03-31)",
    )
    (waiver,) = document["waivers"]
    assert waiver["status"] == "expiring"  # used, and 6 days left
    assert any("expires in 6 days" in w and "CVE-2025-0011" in w for w in document["warnings"])


def test_an_expired_cve_waiver_no_longer_applies(emulator: Emulator, tmp_path: Path) -> None:
    code, document, _ = run(emulator, tmp_path, waived("CVE-2025-0011"), "--now", "2025-04-01")
    assert code == 1
    assert outcomes(document)["api:1.0"]["fixable-urgent"] == ("fail", "fixableVulAsap = 1 > 0")
    assert document["waivers"][0]["status"] == "expired"


def test_a_cve_waiver_that_matches_no_record_is_unused(emulator: Emulator, tmp_path: Path) -> None:
    code, document, _ = run(emulator, tmp_path, waived("CVE-1999-0001"), "--now", "2025-02-01")
    assert code == 1
    assert document["waivers"][0]["status"] == "unused"


@pytest.mark.parametrize(
    ("waiver", "says"),
    [
        (
            "  - {rule: counter, cves: [CVE-2025-0011], reason: r, expires: 2030-01-01}",
            "rule 'counter' reads none",
        ),
        ("  - {rule: fixable, reason: r, expires: 2030-01-01}", "cves: [...]"),
    ],
)
def test_validate_refuses_unusable_cve_waivers(tmp_path: Path, waiver: str, says: str) -> None:
    (tmp_path / "p.yaml").write_text(
        "version: 1\nname: p\nrules:\n  - {id: fixable, fail_if: fixableVulAsap > 0}\n"
        f"  - {{id: counter, fail_if: imageVulAsap > 0}}\nwaivers:\n{waiver}\n"
    )
    done = subprocess.run(
        [*gate_command(), "validate", str(tmp_path / "p.yaml")], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert says in done.stdout + done.stderr


def test_a_library_caller_can_give_the_records() -> None:
    import tempfile

    from gate.policy.loader import load_policies
    from gate.run import CheckRequest, run_check
    from tests.test_explain import RECORDS as GIVEN

    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "p.yaml"
        policy.write_text(POLICY)
        policies = load_policies([str(policy)])
    report = run_check(
        CheckRequest(
            loaded_policies=policies,
            body=RANKING,
            all_namespaces=True,
            vul_records=tuple(GIVEN),
            now=dt.date(2025, 2, 20),
            explain=True,
        )
    )
    api = next(i for i in report.images if i.image.repository == "api")
    assert {r.rule: r.values for r in api.results}["fixable-urgent"] == {"fixableVulAsap": 1}
    assert api.explanation is not None and api.explanation.source == "given"
