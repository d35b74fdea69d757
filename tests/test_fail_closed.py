"""Data that used to pass the gate by accident now blocks it, or stops it (exit 3).

Each case is a ranking a user could receive: one image listed twice with different counters,
two images under one (masked) Uuid, negative counters, a ``RiskRankInfo`` without its lists,
and a snapshot whose fetch time is in the future. They run through ``gate check`` as a user
runs it, in-process with CliRunner (the snapshot is read with the DetailReader hook) and as
the installed command.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gate.cli import cli
from tests.conftest import gate_command, image_entry, ranking_body

POLICY = """\
version: 1
name: team
rules:
  - {id: urgent, fail_if: imageVulAsap > 0}
  - {id: size, fail_if: ImageSize > 1000000000, enforcement: soft-mandatory}
"""
MASKED = "6636c286-8063-4c97-8508-6aaf16a8****"


def entry(namespace: str, repository: str, uuid: str, asap: Any, **fields: Any) -> dict[str, Any]:
    return image_entry(
        namespace, repository, "v1", uuid=uuid, detail={"imageVulAsap": asap}, **fields
    )


def gate(tmp_path: Path, document: Any, *args: str) -> Result:
    snapshot = tmp_path / "ranking.json"
    snapshot.write_text(json.dumps(document))
    policy = tmp_path / "team.yaml"
    policy.write_text(POLICY)
    command = ["check", "--snapshot", str(snapshot), "--policy", str(policy), *args]
    return CliRunner().invoke(cli, command, catch_exceptions=False)


def installed(tmp_path: Path, document: Any, *args: str) -> subprocess.CompletedProcess[str]:
    snapshot = tmp_path / "ranking.json"
    snapshot.write_text(json.dumps(document))
    policy = tmp_path / "team.yaml"
    policy.write_text(POLICY)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "GITHUB_", "CI"))}
    return subprocess.run(
        [*gate_command(), "check", "--snapshot", str(snapshot), "--policy", str(policy), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- one image listed twice --------------------------------------------------------------


@pytest.mark.parametrize("uuid", ["u-1", ""], ids=["same-uuid", "no-uuid"])
def test_the_worse_listing_of_an_image_decides(tmp_path: Path, uuid: str) -> None:
    document = ranking_body(
        vul_asap=[entry("prod", "api", uuid, 0)], baseline=[entry("prod", "api", uuid, 7)]
    )
    result = gate(tmp_path, document, "--all-namespaces")
    assert result.exit_code == 1, result.output
    assert "FAIL     team/urgent" in result.stdout
    assert "imageVulAsap = 7" in result.stdout
    assert "1 image(s) were listed twice with different counters" in result.output
    assert installed(tmp_path, document, "--all-namespaces").returncode == 1


def test_the_worse_listing_decides_whichever_list_comes_first(tmp_path: Path) -> None:
    document = ranking_body(
        vul_asap=[entry("prod", "api", "u-1", 7)], baseline=[entry("prod", "api", "u-1", 0)]
    )
    assert gate(tmp_path, document, "--all-namespaces").exit_code == 1


def test_a_counter_unusable_in_one_listing_is_an_error_naming_it(tmp_path: Path) -> None:
    document = ranking_body(
        vul_asap=[entry("prod", "api", "u-1", 0)],
        baseline=[entry("prod", "api", "u-1", "unknown")],
    )
    result = gate(tmp_path, document, "--all-namespaces")
    assert result.exit_code == 1, result.output
    assert "ERROR    team/urgent" in result.stdout
    assert 'imageVulAsap is not a number: "unknown" in Baseline[0] (VulAsap[0] says 0)' in (
        result.stdout
    )


def test_an_image_sharing_a_masked_uuid_is_not_dropped(tmp_path: Path) -> None:
    document = ranking_body(
        vul_asap=[entry("prod", "api", MASKED, 0), entry("staging", "other", MASKED, 4)]
    )
    result = gate(tmp_path, document, "--all-namespaces")
    assert result.exit_code == 1, result.output
    assert "staging/other:v1" in result.stdout
    assert "1 Uuid(s) were shared by different images" in result.output
    done = installed(tmp_path, document, "--namespace", "staging")
    assert done.returncode == 1, done.stderr
    assert "staging/other:v1" in done.stdout


# --- negative counters -------------------------------------------------------------------


@pytest.mark.parametrize(("asap", "shown"), [(-5, "-5"), ("-1", '"-1"')])
def test_a_negative_counter_is_an_error_under_a_mandatory_rule(
    tmp_path: Path, asap: Any, shown: str
) -> None:
    document = ranking_body(vul_asap=[entry("prod", "api", "u-1", asap)])
    result = gate(tmp_path, document, "--all-namespaces")
    assert result.exit_code == 1, result.output
    assert "ERROR    team/urgent" in result.stdout
    assert f"imageVulAsap is negative: {shown}" in result.stdout
    assert installed(tmp_path, document, "--all-namespaces").returncode == 1


def test_a_negative_image_field_is_an_error_too(tmp_path: Path) -> None:
    document = ranking_body(vul_asap=[entry("prod", "api", "u-1", 0, ImageSize=-1)])
    result = gate(tmp_path, document, "--all-namespaces")
    assert result.exit_code == 1, result.output
    assert "ImageSize is negative: -1" in result.stdout


# --- RiskRankInfo without its lists --------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "found"),
    [
        ({}, "it is empty"),
        ({"VulAsap": None}, "it has 'VulAsap' (null)"),
    ],
    ids=["empty", "null"],
)
def test_a_ranking_without_lists_is_a_data_error(
    tmp_path: Path, info: dict[str, Any], found: str
) -> None:
    document = {"RequestId": "R", "RiskRankInfo": info}
    result = gate(tmp_path, document, "--all-namespaces")
    assert result.exit_code == 3, result.output
    assert "RiskRankInfo holds neither a VulAsap nor a Baseline list" in result.stderr
    assert found in result.stderr
    assert "0 image(s)" not in result.output
    done = installed(tmp_path, document, "--all-namespaces")
    assert done.returncode == 3
    assert "holds neither" in done.stderr


def test_empty_lists_are_still_an_empty_ranking(tmp_path: Path) -> None:
    document = {"RequestId": "R", "RiskRankInfo": {"VulAsap": [], "Baseline": []}}
    assert gate(tmp_path, document, "--all-namespaces").exit_code == 0
    assert gate(tmp_path, document, "--all-namespaces", "--require-images").exit_code == 1


def test_an_unknown_key_beside_the_lists_is_a_warning(tmp_path: Path) -> None:
    document = ranking_body(vul_asap=[entry("prod", "api", "u-1", 0)])
    document["RiskRankInfo"]["Summary"] = [entry("prod", "api", "u-2", 9)]
    result = gate(tmp_path, document, "--all-namespaces")
    assert result.exit_code == 0, result.output
    assert "RiskRankInfo has unknown key 'Summary' (ignored)" in result.output


@pytest.mark.parametrize("key", ["vulasap", "BASELINE"])
@pytest.mark.parametrize("alone", [True, False], ids=["alone", "beside-VulAsap"])
def test_a_case_variant_of_a_list_name_is_a_data_error(
    tmp_path: Path, key: str, alone: bool
) -> None:
    """Its images were dropped with only a warning: a hidden list must not pass."""
    info: dict[str, Any] = {} if alone else {"VulAsap": [entry("prod", "api", "u-1", 0)]}
    info[key] = [entry("prod", "api", "u-2", 9)]
    done = installed(tmp_path, {"RequestId": "R", "RiskRankInfo": info}, "--all-namespaces")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"RiskRankInfo has '{key}', a variant of the list name" in done.stderr
    assert "Traceback" not in done.stderr


# --- --max-age and a fetch time in the future ----------------------------------------------


def envelope(fetched_at: str) -> dict[str, Any]:
    response = ranking_body(vul_asap=[entry("prod", "api", "u-1", 0)])
    return {"gate_snapshot": 1, "fetched_at": fetched_at, "response": response}


def test_max_age_refuses_a_snapshot_from_the_future(tmp_path: Path) -> None:
    result = gate(tmp_path, envelope("2099-01-01T00:00:00Z"), "--all-namespaces", "--max-age", "1h")
    assert result.exit_code == 3, result.output
    assert "has a fetch time in the future" in result.stderr
    assert "check this machine's clock" in result.stderr
    done = installed(
        tmp_path, envelope("2099-01-01T00:00:00Z"), "--all-namespaces", "--max-age", "24h"
    )
    assert done.returncode == 3
    assert "fetch time in the future" in done.stderr


def test_max_age_accepts_a_fresh_snapshot(tmp_path: Path) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    fresh = (now + dt.timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert gate(tmp_path, envelope(fresh), "--all-namespaces", "--max-age", "1h").exit_code == 0
