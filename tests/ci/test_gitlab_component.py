"""The GitLab CI/CD component (templates/image-gate.yml), run for real with gitlab-ci-local in
shell mode against the emulator: job status, JUnit artifact, collapsible log sections, and the
keyless (id_tokens) path.

gitlab-ci-local runs a pipeline the way a runner would, but sets GITLAB_CI=false and does
not mint ID tokens; the tests pass GITLAB_CI=true and the token as variables, as GitLab does.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from tests.ci.conftest import TEST_KEYS, clean_env

pytestmark = pytest.mark.gitlab

ROOT = Path(__file__).resolve().parents[2]
TOOLS = {name: shutil.which(name) for name in ("gitlab-ci-local", "rsync", "git", "node")}


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = [name for name, path in TOOLS.items() if path is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (npm install -g gitlab-ci-local@4.60.0; "
            "apt-get install -y rsync git)"
        )


@dataclass
class Pipeline:
    exit_code: int
    output: str
    project: Path

    def status(self, job: str) -> str:
        match = re.search(rf"^\s*(PASS|FAIL|WARN)\s+{re.escape(job)}\s*$", self.output, re.M)
        assert match is not None, f"no status line for {job}:\n{self.output[-3000:]}"
        return match.group(1)

    def log(self, job: str) -> str:
        """The job's log as the job wrote it (with ANSI escapes and section markers)."""
        path = self.project / ".gitlab-ci-local" / "output" / f"{job}.log"
        return path.read_text(encoding="utf-8", errors="replace")

    def artifact(self, job: str, name: str) -> Path:
        return self.project / ".gitlab-ci-local" / "artifacts" / job / name


def run_pipeline(
    tmp_path: Path, includes: str, variables: dict[str, str], files: dict[str, Path]
) -> Pipeline:
    project = tmp_path / "project"
    (project / "templates").mkdir(parents=True)
    shutil.copy(ROOT / "templates" / "image-gate.yml", project / "templates" / "image-gate.yml")
    for name, source in files.items():
        shutil.copy(source, project / name)
    (project / ".gitlab-ci.yml").write_text(includes, encoding="utf-8")
    env = clean_env(tmp_path)
    env["PATH"] = f"{Path(str(TOOLS['node'])).parent}:{env['PATH']}"
    git = ["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "test"]):
        subprocess.run([*git, *command], cwd=project, env=env, check=True)
    # --shell-isolation: each job in its own build directory, as on a real runner.
    args = [str(TOOLS["gitlab-ci-local"]), "--force-shell-executor", "--shell-isolation"]
    for name, value in variables.items():
        args += ["--variable", f"{name}={value}"]
    done = subprocess.run(
        args,
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    return Pipeline(done.returncode, done.stdout, project)


def component(prefix: str, **inputs: str) -> str:
    lines = ["  - local: templates/image-gate.yml", "    inputs:", f"      job-prefix: {prefix}"]
    lines += [
        f"      {name.replace('_', '-')}: {json.dumps(value)}" for name, value in inputs.items()
    ]
    return "\n".join(lines) + "\n"


def test_gate_jobs_against_the_emulator(
    tmp_path: Path, emulator_url: str, ci_files: dict[str, Path]
) -> None:
    common = {"endpoint": emulator_url, "policy": "ci-policy.yaml", "package": str(ROOT)}
    includes = "include:\n" + "".join(
        [
            component("pass-", namespace="clean", **common),
            component("fail-", namespace="prod", **common),
            component("report-", namespace="prod", fail="false", json="out/report.json", **common),
            component(
                "deploy-", image="registry.cn-hangzhou.aliyuncs.com/prod/api:app:v2", **common
            ),
        ]
    )
    includes = includes.replace('fail: "false"', "fail: false")
    pipeline = run_pipeline(
        tmp_path,
        includes,
        {**TEST_KEYS, "GITLAB_CI": "true"},
        {"ci-policy.yaml": ci_files["policy"]},
    )
    assert pipeline.status("pass-image-gate") == "PASS"
    assert pipeline.status("fail-image-gate") == "FAIL"
    assert pipeline.status("report-image-gate") == "PASS"
    assert pipeline.status("deploy-image-gate") == "FAIL"
    assert pipeline.exit_code != 0

    # The JUnit report is kept also when the gate fails (artifacts:when: always).
    junit = etree.parse(str(pipeline.artifact("fail-image-gate", "gate-junit.xml")))
    assert junit.getroot().get("failures") == "2"
    names = junit.xpath("//testcase/@name")
    assert "ci/urgent [prod/api:app:v2]" in names
    report = json.loads(pipeline.artifact("report-image-gate", "out/report.json").read_text())
    assert report["verdict"] == "fail"
    deploy = etree.parse(str(pipeline.artifact("deploy-image-gate", "gate-junit.xml")))
    assert deploy.xpath("//testsuite/@name") == ["prod/api:app:v2"]

    log = pipeline.log("fail-image-gate")
    assert re.search(r"section_start:\d+:gate_blocking\[collapsed=false\]", log)
    assert re.search(r"section_start:\d+:image_gate_install\[collapsed=true\]", log)
    assert "FAIL: the gate blocks: 2 blocking result(s) in 2 image(s) (exit 1)" in log
    assert "the fail: false input lets this job pass" in pipeline.log("report-image-gate")
    assert TEST_KEYS["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] not in pipeline.output


RECORDER = """\
import hashlib, json, os, stat, sys

def main():
    if sys.argv[1:] == ["--version"]:
        return print("gate, version 0 (test double)")
    path = os.environ.get("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "")
    record = {name: os.environ.get(name) for name in (
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
        "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_ROLE_SESSION_NAME",
        "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")}
    record["argv"] = sys.argv[1:]
    record["mode"] = stat.S_IMODE(os.stat(path).st_mode)
    record["sha256"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    with open("record.json", "w") as out:
        json.dump(record, out)
"""


def recorder_wheel(directory: Path) -> Path:
    """A wheel whose ``gate`` records what the credentials chain would receive."""
    wheel = directory / "gate_double-0.0.1-py3-none-any.whl"
    info = "gate_double-0.0.1.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("gate_double.py", RECORDER)
        archive.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: gate-double\nVersion: 0.0.1\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/entry_points.txt", "[console_scripts]\ngate = gate_double:main\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def test_keyless_auth_through_the_job_id_token(tmp_path: Path) -> None:
    wheel = recorder_wheel(tmp_path)
    token = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJzdHMuYWxpeXVuY3MuY29tIn0.Z2l0bGFiLXRlc3Q"
    includes = "include:\n" + component(
        "oidc-",
        namespace="prod",
        package=f"--no-index {wheel}",
        role_arn="acs:ram::123:role/gate",
        oidc_provider_arn="acs:ram::123:oidc-provider/gitlab",
    )
    pipeline = run_pipeline(
        tmp_path, includes, {**TEST_KEYS, "IMAGE_GATE_ID_TOKEN": token, "CI_JOB_ID": "77"}, {}
    )
    assert pipeline.status("oidc-image-gate") == "PASS", pipeline.output[-3000:]
    builds = pipeline.project / ".gitlab-ci-local" / "builds" / "oidc-image-gate"
    record = json.loads((builds / "record.json").read_text())
    assert record["mode"] == 0o600
    assert record["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert record["ALIBABA_CLOUD_ROLE_ARN"] == "acs:ram::123:role/gate"
    assert record["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"] == "acs:ram::123:oidc-provider/gitlab"
    assert record["ALIBABA_CLOUD_ROLE_SESSION_NAME"] == "gate-gitlab-77"
    assert record["ALIBABA_CLOUD_ACCESS_KEY_ID"] is None
    assert record["argv"] == [
        "check",
        "--namespace",
        "prod",
        "--unranked",
        "warn",
        "--junit",
        "gate-junit.xml",
        "--json",
        "gate-report.json",
        "--codequality",
        "gl-code-quality-report.json",
    ]
    assert token not in pipeline.log("oidc-image-gate")
    assert not Path(record["ALIBABA_CLOUD_OIDC_TOKEN_FILE"]).exists()
