"""The composite GitHub Action (action.yml), run step by step as the runner would, against
the emulator: outputs, job summary, annotations and the step's exit status."""

from __future__ import annotations

import hashlib
import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.action_runner import ROOT, ActionRun, run_action
from tests.ci.conftest import TEST_KEYS, TokenService, clean_env

# The environment of the interpreter running the tests already holds the gate: the action
# reuses a venv whose gate exists, which keeps these tests fast. One test installs for real.
TEST_VENV = str(Path(sys.executable).parent.parent)


@pytest.fixture
def job(tmp_path: Path, emulator_url: str, ci_files: dict[str, Path]) -> Any:
    """Run the action in a fresh workspace; inputs default to the emulator and CI policy."""
    workspace = tmp_path / "workspace"
    temp = tmp_path / "runner-temp"
    workspace.mkdir()
    temp.mkdir()

    def run(env: dict[str, str] | None = None, **inputs: str) -> ActionRun:
        given = {
            "endpoint": emulator_url,
            "policy": str(ci_files["policy"]),
            "venv": TEST_VENV,
            **{k.replace("_", "-"): v for k, v in inputs.items()},
        }
        return run_action(
            given,
            env=clean_env(tmp_path, **(TEST_KEYS if env is None else env)),
            workspace=workspace,
            temp=temp,
        )

    run.workspace = workspace  # type: ignore[attr-defined]
    run.temp = temp  # type: ignore[attr-defined]
    return run


def test_pass(job: Any) -> None:
    result = job(namespace="clean")
    assert result.outcome == "success", result.log
    assert result.outputs == {
        "verdict": "pass",
        "exit-code": "0",
        "failed": "0",
        "warned": "0",
        "waived": "0",
        "images": "1",
        "junit": "gate-junit.xml",
        "json": "",
    }
    assert (job.workspace / "gate-junit.xml").is_file()
    assert result.summary.startswith("## ✅ Image gate: PASS")
    assert "Reusing the gate installed in" in result.steps[0].log
    assert "::error" not in result.log


def test_fail(job: Any) -> None:
    result = job(namespace="prod*\nclean", json="out/report.json")
    assert result.exit_code == 1
    assert [s.exit_code for s in result.steps] == [0, 1]
    assert result.outputs["verdict"] == "fail"
    assert result.outputs["exit-code"] == "1"
    assert result.outputs["failed"] == "2"
    assert result.outputs["warned"] == "1"
    assert result.outputs["images"] == "3"
    assert result.outputs["json"] == "out/report.json"
    report = json.loads((job.workspace / "out/report.json").read_text())
    assert report["verdict"] == "fail"
    assert "## ❌ Image gate: FAIL (2 blocking result(s) in 2 image(s))" in result.summary
    assert "| prod/api:app:v2 | ci/urgent | hard-mandatory | fail | imageVulAsap = 3 &gt; 0 |" in (
        result.summary
    )
    assert (
        "::error title=Image gate%3A ci/urgent (fail)::prod/api:app:v2: imageVulAsap = 3 > 0"
        in (result.log)
    )
    assert "::warning title=Image gate%3A ci/budget (warn)::prod/api:app:v2" in result.log


def test_fail_false_reports_without_failing_the_step(job: Any) -> None:
    result = job(namespace="prod", fail="false")
    assert result.outcome == "success", result.log
    assert result.outputs["verdict"] == "fail"
    assert result.outputs["exit-code"] == "1"
    assert "'fail: false' lets this step pass" in result.log
    assert "❌ Image gate: FAIL" in result.summary


def test_fail_false_still_fails_when_nothing_could_be_evaluated(job: Any) -> None:
    result = job(namespace="prod", fail="false", snapshot="missing.json")
    assert result.exit_code == 3
    assert (result.outputs["verdict"], result.outputs["exit-code"]) == ("error", "3")
    assert "Image gate: ERROR (exit 3)" in result.summary
    assert (job.workspace / "gate-junit.xml").is_file()  # the error report for CI test views


def test_images_by_reference_with_unranked(job: Any) -> None:
    images = "registry.cn-hangzhou.aliyuncs.com/clean/api:1.0, prod/api:app:v2\nprod/new:7"
    result = job(image=images, unranked="warn", fail="false")
    assert result.outputs["images"] == "3"
    assert result.outputs["verdict"] == "fail"
    assert "| prod/new:7 | gate/unranked | advisory | warn |" in result.summary
    assert "lists only images Security Center has ranked" in result.summary


def test_inputs_cannot_inject_shell_code(job: Any) -> None:
    hostile = "x'; touch pwned1; echo '\n$(touch pwned2)\n`touch pwned3`\n\"; touch pwned4; \""
    result = job(namespace=hostile, override=hostile)
    assert result.outcome == "success", result.log
    assert not list(job.workspace.glob("pwned*"))
    assert result.outputs["images"] == "0"


def test_invalid_boolean_input(job: Any) -> None:
    result = job(namespace="prod", fail="maybe")
    assert result.exit_code == 2
    assert "::error title=Image gate::input fail must be true or false, not 'maybe'" in result.log
    assert result.outputs["verdict"] == "error"


def test_outputs_exist_even_when_the_command_line_is_rejected(job: Any) -> None:
    result = job(namespace="prod", unranked="sometimes")
    assert result.exit_code == 2
    assert (result.outputs["verdict"], result.outputs["exit-code"]) == ("error", "2")


def test_live_api_rejects_unknown_keys(job: Any) -> None:
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "someone-else",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "wrong",
    }
    result = job(env=env, namespace="prod", fail="false")
    assert result.exit_code == 3
    assert result.outputs["verdict"] == "error"
    assert "wrong" not in result.log.replace("InvalidAccessKeyId", "")


def test_real_install_into_a_fresh_venv_then_reuse(job: Any) -> None:
    venv = job.temp / "acs-image-gate"
    result = job(namespace="prod", venv="", fail="false")
    assert result.outcome == "success", result.log
    assert f"Installing the gate from {ROOT} into {venv}" in result.steps[0].log
    assert (venv / "bin" / "gate").is_file()
    assert result.outputs["verdict"] == "fail"
    again = job(namespace="clean", venv="")
    assert f"Reusing the gate installed in {venv}" in again.steps[0].log
    assert again.outputs["verdict"] == "pass"


# --- keyless auth (OIDC) --------------------------------------------------------------------

FAKE_GATE = """\
#!{python}
# Stands in for the gate: records what the credentials chain would receive, and lets the
# real alibabacloud-credentials OIDC provider read its configuration from that environment.
import hashlib, json, os, stat, sys
if sys.argv[1:] == ["--version"]:
    sys.exit(print("gate, version 0 (test double)"))
path = os.environ.get("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "")
record = {{name: os.environ.get(name) for name in (
    "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_ROLE_ARN",
    "ALIBABA_CLOUD_ROLE_SESSION_NAME", "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET")}}
record["argv"] = sys.argv[1:]
if path:
    record["mode"] = stat.S_IMODE(os.stat(path).st_mode)
    record["dir_mode"] = stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)
    record["sha256"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    from alibabacloud_credentials.provider.oidc import OIDCRoleArnCredentialsProvider
    provider = OIDCRoleArnCredentialsProvider()
    record["provider"] = [provider._role_arn, provider._oidc_provider_arn,
                          provider._oidc_token_file_path, provider._role_session_name]
json.dump(record, open(os.environ["FAKE_GATE_RECORD"], "w"))
with open(os.environ["GITHUB_OUTPUT"], "a") as out:
    out.write("verdict=pass\\nexit-code=0\\n")
"""


@pytest.fixture
def fake_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "fake-venv"
    (venv / "bin").mkdir(parents=True)
    gate = venv / "bin" / "gate"
    gate.write_text(FAKE_GATE.format(python=sys.executable))
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for path in (gate, python):
        path.chmod(0o755)
    return venv


def oidc_env(tmp_path: Path, service: TokenService) -> dict[str, str]:
    return {
        "ACTIONS_ID_TOKEN_REQUEST_URL": service.url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": service.bearer,
        "FAKE_GATE_RECORD": str(tmp_path / "record.json"),
        # Static keys in the job are set aside when a role is asked for.
        **TEST_KEYS,
    }


ROLE = "acs:ram::1234567890:role/image-gate"
PROVIDER = "acs:ram::1234567890:oidc-provider/github"


def test_keyless_auth_hands_the_token_file_to_the_credentials_chain(
    job: Any, tmp_path: Path, token_service: TokenService, fake_venv: Path
) -> None:
    result = job(
        env=oidc_env(tmp_path, token_service),
        namespace="prod",
        venv=str(fake_venv),
        role_to_assume=ROLE,
        oidc_provider_arn=PROVIDER,
    )
    assert result.outcome == "success", result.log
    record = json.loads((tmp_path / "record.json").read_text())
    token_file = record["ALIBABA_CLOUD_OIDC_TOKEN_FILE"]
    assert token_file.startswith(str(job.temp))
    assert record["mode"] == 0o600
    assert record["dir_mode"] == 0o700
    assert record["sha256"] == hashlib.sha256(token_service.token.encode()).hexdigest()
    assert record["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"] == PROVIDER
    assert record["ALIBABA_CLOUD_ROLE_ARN"] == ROLE
    assert record["ALIBABA_CLOUD_ROLE_SESSION_NAME"] == "gate-github-4242-1"
    assert record["ALIBABA_CLOUD_ACCESS_KEY_ID"] is None
    assert record["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] is None
    assert record["provider"] == [ROLE, PROVIDER, token_file, "gate-github-4242-1"]
    assert record["argv"][:1] == ["check"]
    # The request: the runner's bearer, audience sts.aliyuncs.com.
    [request] = token_service.requests
    assert request["path"] == "/_apis/token?api-version=2.0&audience=sts.aliyuncs.com"
    # The token is masked first and appears nowhere else; the file is gone after the step.
    assert result.masks == [token_service.token]
    unmasked = result.log.replace(f"::add-mask::{token_service.token}", "")
    assert token_service.token not in unmasked
    assert token_service.bearer not in result.log
    assert token_service.token not in json.dumps(result.outputs) + result.summary
    assert not Path(token_file).exists()


def test_keyless_auth_with_custom_audience_and_session(
    job: Any, tmp_path: Path, token_service: TokenService, fake_venv: Path
) -> None:
    result = job(
        env=oidc_env(tmp_path, token_service),
        namespace="prod",
        venv=str(fake_venv),
        role_to_assume=ROLE,
        oidc_provider_arn=PROVIDER,
        audience="my-audience",
        role_session_name="deploy/prod #7",
    )
    assert result.outcome == "success", result.log
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["ALIBABA_CLOUD_ROLE_SESSION_NAME"] == "deploy-prod--7"
    assert token_service.requests[0]["path"].endswith("&audience=my-audience")


def test_keyless_auth_without_id_token_permission(
    job: Any, tmp_path: Path, fake_venv: Path
) -> None:
    result = job(
        env={"FAKE_GATE_RECORD": str(tmp_path / "record.json")},
        namespace="prod",
        venv=str(fake_venv),
        role_to_assume=ROLE,
        oidc_provider_arn=PROVIDER,
    )
    assert result.exit_code == 2
    assert "permissions: id-token: write" in result.log
    assert not (tmp_path / "record.json").exists()


def test_keyless_auth_needs_both_arns(job: Any, fake_venv: Path) -> None:
    result = job(namespace="prod", venv=str(fake_venv), role_to_assume=ROLE)
    assert result.exit_code == 2
    assert "needs both role-to-assume and oidc-provider-arn" in result.log


def test_scripts_are_executable_and_no_expression_is_expanded_inside_run() -> None:
    for script in ("install.sh", "run.sh"):
        path = ROOT / "action" / script
        assert path.stat().st_mode & stat.S_IXUSR
        assert path.read_text().startswith("#!/usr/bin/env bash\n")
    spec = yaml.safe_load((ROOT / "action.yml").read_text())
    for step in spec["runs"]["steps"]:
        assert "${{" not in step["run"], "inputs reach scripts through env: only"


@pytest.mark.parametrize(("value", "passed"), [("true", True), ("false", False), ("", False)])
def test_explain_input_becomes_the_option(
    job: Any, tmp_path: Path, fake_venv: Path, value: str, passed: bool
) -> None:
    env = {"FAKE_GATE_RECORD": str(tmp_path / "record.json"), **TEST_KEYS}
    result = job(env=env, namespace="prod", venv=str(fake_venv), explain=value)
    assert result.outcome == "success", result.log
    argv = json.loads((tmp_path / "record.json").read_text())["argv"]
    assert ("--explain" in argv) is passed
