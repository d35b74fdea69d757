"""The GitLab component's job script (templates/image-gate.yml) run by bash, without GitLab or
gitlab-ci-local: the keyless path keeps the job's ID token out of the log (also under
CI_DEBUG_TRACE, which traces every command), out of the gate's environment, in a private
0600 file, and deletes the file when the job ends.

``python3`` is a stand-in on PATH whose ``-m venv`` makes a venv with a fake ``gate`` that
records what it was given, so the test needs neither pip nor a network.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJTRU5USU5FTC1naXRsYWIiOjF9.Z2l0bGFiLXNlbnRpbmVsLXNpZw"

FAKE_PYTHON = r"""#!/bin/sh
# A stand-in for python3: 'python3 -m venv DIR' makes DIR/bin/{python,gate}.
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\nexit 0\n' > "$3/bin/python"
  cat > "$3/bin/gate" <<'EOF'
#!/bin/sh
[ "$1" = "--version" ] && { echo "gate, version 0-test"; exit 0; }
file="${ALIBABA_CLOUD_OIDC_TOKEN_FILE:-}"
mode=""; content=""
if [ -n "$file" ]; then
  mode="$(stat -c %a "$file")"; dirmode="$(stat -c %a "$(dirname "$file")")"
  content="$(cat "$file")"
fi
{
  echo "file=$file"; echo "mode=$mode"; echo "dirmode=${dirmode:-}"
  echo "content=$content"
  echo "env_token=${IMAGE_GATE_ID_TOKEN:-}"
  echo "role=${ALIBABA_CLOUD_ROLE_ARN:-}"
  echo "static=${ALIBABA_CLOUD_ACCESS_KEY_ID:-}"
  echo "args=$*"
} > "$GATE_RECORD"
exit "${GATE_EXIT:-0}"
EOF
  chmod +x "$3/bin/python" "$3/bin/gate"
  exit 0
fi
exit 1
"""


def job_script() -> str:
    documents = list(yaml.safe_load_all((ROOT / "templates" / "image-gate.yml").read_text()))
    job = documents[1]["$[[ inputs.job-prefix ]]image-gate"]
    script = job["script"]
    assert isinstance(script, list) and len(script) == 1
    return str(script[0])


@pytest.fixture
def bash() -> str:
    found = shutil.which("bash")
    if found is None:
        pytest.skip("bash is not installed")
    return found


def run_job(
    tmp_path: Path, bash: str, trace: bool, **variables: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    work = tmp_path / "build"
    work.mkdir(exist_ok=True)
    record = tmp_path / "record.txt"
    script = tmp_path / "job.sh"
    # As GitLab's runner does: its own prelude (with xtrace under CI_DEBUG_TRACE), then the
    # script lines.
    script.write_text(("set -o xtrace\n" if trace else "") + job_script())
    env = {
        "PATH": f"{bindir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "GATE_RECORD": str(record),
        "IMAGE_GATE_PACKAGE": "acs-image-gate",
        "IMAGE_GATE_POLICY": "",
        "IMAGE_GATE_NAMESPACE": "prod-*",
        "IMAGE_GATE_IMAGE": "",
        "IMAGE_GATE_UNRANKED": "warn",
        "IMAGE_GATE_REGION": "",
        "IMAGE_GATE_ENDPOINT": "",
        "IMAGE_GATE_SNAPSHOT": "",
        "IMAGE_GATE_JUNIT": "gate-junit.xml",
        "IMAGE_GATE_JSON": "gate-report.json",
        "IMAGE_GATE_OVERRIDE": "",
        "IMAGE_GATE_REQUIRE_IMAGES": "false",
        "IMAGE_GATE_FAIL": "true",
        "IMAGE_GATE_ROLE_ARN": "acs:ram::1:role/gate",
        "IMAGE_GATE_OIDC_PROVIDER_ARN": "acs:ram::1:oidc-provider/gitlab",
        "IMAGE_GATE_ROLE_SESSION_NAME": "",
        "IMAGE_GATE_ID_TOKEN": TOKEN,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "static-id",
        "CI_JOB_ID": "77",
    }
    env.update(variables)
    done = subprocess.run(
        [bash, str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=60
    )
    seen = {}
    if record.exists():
        for line in record.read_text().splitlines():
            name, _, value = line.partition("=")
            seen[name] = value
    return done, seen


@pytest.mark.parametrize("trace", [False, True], ids=["plain", "CI_DEBUG_TRACE"])
def test_keyless_job_keeps_the_id_token_out_of_the_log(
    tmp_path: Path, bash: str, trace: bool
) -> None:
    done, seen = run_job(tmp_path, bash, trace)
    assert done.returncode == 0, done.stdout + done.stderr
    log = done.stdout + done.stderr
    assert TOKEN not in log
    assert TOKEN.split(".")[1] not in log
    # The gate got the token through a private file only, and the role instead of static keys.
    assert seen["content"] == TOKEN
    assert seen["mode"] == "600"
    assert seen["dirmode"] == "700"
    assert seen["env_token"] == ""
    assert seen["static"] == ""
    assert seen["role"] == "acs:ram::1:role/gate"
    # The file is gone when the job ends.
    assert not Path(seen["file"]).exists()
    assert not Path(seen["file"]).parent.exists()


def test_token_file_is_removed_when_the_gate_fails(tmp_path: Path, bash: str) -> None:
    done, seen = run_job(tmp_path, bash, False, GATE_EXIT="3")
    assert done.returncode == 3
    assert seen["content"] == TOKEN
    assert not Path(seen["file"]).parent.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith("tmp.")] == []


def test_static_keys_job_has_no_token_file(tmp_path: Path, bash: str) -> None:
    done, seen = run_job(
        tmp_path, bash, True, IMAGE_GATE_ROLE_ARN="", IMAGE_GATE_OIDC_PROVIDER_ARN=""
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen["file"] == ""
    assert seen["env_token"] == ""
    assert seen["static"] == "static-id"
    assert TOKEN not in done.stdout + done.stderr


def test_script_never_names_the_token_outside_the_file_write() -> None:
    script = job_script()
    assert script.lstrip().startswith("set +x")
    uses = [line.strip() for line in script.splitlines() if "$IMAGE_GATE_ID_TOKEN" in line]
    assert uses == ["""(umask 077 && printf '%s' "$IMAGE_GATE_ID_TOKEN" > "$token_dir/token")"""]


@pytest.mark.parametrize(("value", "passed"), [("true", True), ("false", False)])
def test_explain_input_becomes_the_option(
    tmp_path: Path, bash: str, value: str, passed: bool
) -> None:
    done, seen = run_job(tmp_path, bash, False, IMAGE_GATE_EXPLAIN=value)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("--explain" in seen["args"].split()) is passed
