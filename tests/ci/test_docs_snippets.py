"""The "Before deploy" script in README.md, run as written against the emulator,
with a stand-in kubectl that renders a manifest and records what would be applied."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.ci.conftest import TEST_KEYS, clean_env

ROOT = Path(__file__).resolve().parents[2]

KUBECTL = """\
#!/usr/bin/env bash
case "$1" in
  kustomize) cat "$(dirname "$0")/manifest.yaml" ;;
  apply) cat > applied.yaml ;;
  *) echo "unexpected kubectl $*" >&2; exit 99 ;;
esac
"""


def before_deploy_script() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Before deploy", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize(
    ("image", "code", "applied"),
    [
        ("registry.cn-hangzhou.aliyuncs.com/clean/api:1.0", 0, True),
        ("registry.cn-hangzhou.aliyuncs.com/prod/api:app:v2", 1, False),
    ],
)
def test_before_deploy_script(
    tmp_path: Path,
    emulator_url: str,
    ci_files: dict[str, Path],
    image: str,
    code: int,
    applied: bool,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(KUBECTL)
    kubectl.chmod(0o755)
    (bin_dir / "manifest.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n"
        "      containers:\n"
        f"        - name: api\n          image: {image}\n"
        '        - name: proxy\n          image: "nginx:1.25"\n'
    )
    work = tmp_path / "work"
    (work / "policies").mkdir(parents=True)
    (work / "policies" / "production.yaml").write_text(ci_files["policy"].read_text())
    script = work / "before-deploy.sh"
    script.write_text(before_deploy_script())
    env = clean_env(tmp_path, **TEST_KEYS, GATE_ENDPOINT=emulator_url)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    done = subprocess.run(
        ["bash", str(script)], cwd=work, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert (work / "applied.yaml").exists() is applied
    assert (work / "gate-junit.xml").is_file()
    assert "nginx" not in done.stdout  # public images are left out of the check
    if applied:
        assert "image gate passed: deploying" in done.stdout
    else:
        assert "image gate blocked the deploy" in done.stderr
