"""Run a composite action's steps the way the GitHub runner does, for tests.

Parses ``action.yml``, resolves the inputs (defaults, then the given values), and for each
step substitutes the ``${{ }}`` expressions the action uses (``inputs.*``,
``github.action_path``, ``steps.<id>.outputs.*``; anything else is an error, so a new
expression cannot slip past the tests), then runs ``run:`` with
``bash --noprofile --norc -eo pipefail FILE`` (the runner's ``shell: bash``) in the step's
environment, with a fresh ``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY`` and ``GITHUB_ENV`` per
step. ``GITHUB_ENV`` and ``GITHUB_PATH`` are applied to the steps after it, and a failing
step skips the rest, as on a runner. ``::add-mask::`` values are recorded, not applied, so a
test can check that a secret never reaches the log in the first place.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
MASK = re.compile(r"^::add-mask::(.*)$", re.M)


def parse_file_command(text: str) -> dict[str, str]:
    """``name=value`` and ``name<<DELIMITER`` entries, as the runner reads GITHUB_OUTPUT/ENV."""
    values: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if not line.strip():
            continue
        heredoc = line.find("<<")
        equals = line.find("=")
        if heredoc != -1 and (equals == -1 or heredoc < equals):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            body: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            else:
                raise AssertionError(f"heredoc for {name} is not closed by {delimiter}")
            values[name] = "\n".join(body)
        else:
            if equals == -1:
                raise AssertionError(f"invalid file command line: {line!r}")
            values[line[:equals]] = line[equals + 1 :]
    return values


@dataclass
class StepRun:
    id: str
    name: str
    exit_code: int
    log: str
    outputs: dict[str, str]
    summary: str


@dataclass
class ActionRun:
    """What a workflow would see after ``uses:`` this action."""

    exit_code: int
    outputs: dict[str, str]
    steps: list[StepRun]
    masks: list[str] = field(default_factory=list)

    @property
    def log(self) -> str:
        return "".join(step.log for step in self.steps)

    @property
    def summary(self) -> str:
        return "".join(step.summary for step in self.steps)

    @property
    def outcome(self) -> str:
        return "success" if self.exit_code == 0 else "failure"


def _substitute(text: str, context: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression not in context and not expression.startswith("steps."):
            raise AssertionError(f"expression not supported by the test runner: {expression}")
        return context.get(expression, "")  # a missing step output is empty, as on GitHub

    return EXPRESSION.sub(value, text)


def run_action(
    inputs: Mapping[str, str],
    *,
    env: Mapping[str, str],
    workspace: Path,
    temp: Path,
    action: Path = ROOT / "action.yml",
) -> ActionRun:
    """Run the action's steps; ``env`` is the job's environment (PATH, credentials...)."""
    spec: dict[str, Any] = yaml.safe_load(action.read_text(encoding="utf-8"))
    assert spec["runs"]["using"] == "composite"
    declared: dict[str, Any] = spec.get("inputs", {})
    unknown = set(inputs) - set(declared)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    context: dict[str, str] = {"github.action_path": str(action.parent)}
    for name, meta in declared.items():
        context[f"inputs.{name}"] = str(inputs.get(name, meta.get("default", "")))

    job_env = {
        **env,
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_ACTION_PATH": str(action.parent),
        "RUNNER_TEMP": str(temp),
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "1",
    }
    steps: list[StepRun] = []
    masks: list[str] = []
    exit_code = 0
    for index, step in enumerate(spec["runs"]["steps"]):
        assert "if" not in step, "conditional steps need support in the test runner"
        assert step.get("shell") == "bash"
        step_id = step.get("id", f"step{index}")
        files = {
            name: temp / f"{step_id}.{name.lower()}"
            for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH")
        }
        for path in files.values():
            path.write_text("", encoding="utf-8")
        step_env = {
            **job_env,
            **{k: _substitute(str(v), context) for k, v in step.get("env", {}).items()},
            **{k: str(v) for k, v in files.items()},
        }
        script = temp / f"{step_id}.sh"
        script.write_text(_substitute(step["run"], context), encoding="utf-8")
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=step_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        masks += MASK.findall(done.stdout)
        outputs = parse_file_command(files["GITHUB_OUTPUT"].read_text(encoding="utf-8"))
        for name, value in outputs.items():
            context[f"steps.{step_id}.outputs.{name}"] = value
        job_env.update(parse_file_command(files["GITHUB_ENV"].read_text(encoding="utf-8")))
        for directory in files["GITHUB_PATH"].read_text(encoding="utf-8").splitlines():
            job_env["PATH"] = directory + os.pathsep + job_env.get("PATH", "")
        steps.append(
            StepRun(
                id=step_id,
                name=step.get("name", step_id),
                exit_code=done.returncode,
                log=done.stdout,
                outputs=outputs,
                summary=files["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8"),
            )
        )
        if done.returncode != 0:
            exit_code = done.returncode
            break
    outputs = {
        name: _substitute(str(meta["value"]), context)
        for name, meta in spec.get("outputs", {}).items()
    }
    return ActionRun(exit_code=exit_code, outputs=outputs, steps=steps, masks=masks)
