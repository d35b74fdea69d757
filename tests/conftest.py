"""Shared builders and fixtures for the gate's tests.

Builders make real things (policy YAML parsed by the real loader, API bodies normalised by
the real normaliser) rather than mocks, so a test reads like what a user writes and sees.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from gate.evaluate import evaluate
from gate.model import Image, Policy, Report, SourceInfo
from gate.policy.loader import parse_policy
from gate.source.normalize import normalize

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"  # reference files kept in the repository (README there)
DEMO_RESPONSE = REPO_ROOT / "gate" / "data" / "demo-response.json"
TODAY = dt.date(2026, 6, 1)

DEMO_IMAGE_NAMES = (
    "namespace-01/lkl-zf-ss-ordapi-labs:app:app01-ubuntu",
    "namespace-01/glz123:machineResource",
)


def policy_text(
    rules: str = "  - id: r\n    fail_if: imageVulAsap > 0\n",
    *,
    name: str = "p",
    extra: str = "",
) -> str:
    """A version-1 policy document with the given ``rules:`` block (already indented)."""
    return f"version: 1\nname: {name}\n{extra}rules:\n{rules}"


def load_policy(text: str, file: str = "policy.yaml") -> Policy:
    """Parse a policy from YAML text (dedented) with the real loader."""
    return parse_policy(file, textwrap.dedent(text).encode("utf-8"))


def image_entry(
    namespace: str = "ns",
    repository: str = "repo",
    tag: str = "v1",
    *,
    uuid: str | None = None,
    digest: str = "ab" * 32,
    detail: Any = None,
    **fields: Any,
) -> dict[str, Any]:
    """One image object as the API returns it; ``detail`` (a dict) becomes RiskLevelDetail."""
    entry: dict[str, Any] = {
        "Uuid": uuid if uuid is not None else f"uuid-{namespace}-{repository}-{tag}",
        "ImageSize": 1024,
        "Digest": digest,
        "HcCount": 0,
        "Tag": tag,
        "VulCount": 0,
        "ImageId": "cd" * 32,
        "RepoName": repository,
        "RepoNamespace": namespace,
    }
    if isinstance(detail, Mapping):
        entry["RiskLevelDetail"] = json.dumps(dict(detail))
    elif detail is not None:
        entry["RiskLevelDetail"] = detail
    else:
        entry["RiskLevelDetail"] = json.dumps({"imageVulAsap": 0})
    entry.update(fields)
    return entry


def ranking_body(
    vul_asap: Sequence[dict[str, Any]] = (), baseline: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """A GetDockerhubImageRiskRankInfo response body."""
    return {
        "RequestId": "TEST-REQUEST",
        "RiskRankInfo": {"VulAsap": list(vul_asap), "Baseline": list(baseline)},
    }


def make_image(
    namespace: str = "ns",
    repository: str = "repo",
    tag: str = "v1",
    *,
    metrics: Mapping[str, int | float] | None = None,
    digest: str = "ab" * 32,
    uuid: str = "",
    ranked_in: tuple[str, ...] = ("VulAsap",),
    metric_problems: Mapping[str, str] | None = None,
    data_error: str | None = None,
) -> Image:
    """An already normalised image, for engine tests."""
    return Image(
        namespace=namespace,
        repository=repository,
        tag=tag,
        digest=digest,
        uuid=uuid,
        image_id="",
        ranked_in=ranked_in,
        metrics=dict(metrics or {}),
        metric_problems=dict(metric_problems or {}),
        data_error=data_error,
    )


def run_engine(
    policies: Policy | Sequence[Policy],
    images: Sequence[Image],
    *,
    now: dt.date = TODAY,
    override: str | None = None,
    require_images: bool = False,
    selection: Sequence[str] = ("ns",),
) -> Report:
    """Evaluate with the real engine and a snapshot source."""
    if isinstance(policies, Policy):
        policies = [policies]
    return evaluate(
        policies,
        images,
        now=now,
        source=SourceInfo(kind="snapshot", path="test.json"),
        selection=selection,
        override=override,
        require_images=require_images,
    )


def images_from(body: dict[str, Any]) -> tuple[Image, ...]:
    return normalize(body).images


@pytest.fixture
def demo_body() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEMO_RESPONSE.read_text("utf-8"))
    return loaded


@pytest.fixture
def write_json(tmp_path: Path) -> Any:
    """Write a JSON document to a file under tmp_path and return its path as a string."""

    def write(document: Any, name: str = "ranking.json") -> str:
        path = tmp_path / name
        path.write_text(json.dumps(document), encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def write_policy(tmp_path: Path) -> Any:
    """Write policy YAML (dedented) to a file under tmp_path and return its path."""

    def write(text: str, name: str = "policy.yaml") -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def junit_xsd() -> Path:
    """The JUnit XML schema of Jenkins' xUnit plugin (MIT), kept in tests/data."""
    return TEST_DATA / "junit-10.xsd"


def gate_command() -> list[str]:
    """The installed ``gate`` console script (next to this interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / "gate"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("gate")
    if found is None:
        pytest.skip("the gate console script is not installed")
    return [found]


_LEAKY = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CI")


@pytest.fixture(autouse=True)
def _isolate_gate_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No GATE_*, colour or CI variables leak in from the developer's or CI's environment.

    The gate behaves differently under GitHub Actions and GitLab CI (annotations, step
    outputs, folded sections); tests that want that set the variables themselves.
    """
    for key in list(os.environ):
        if key.startswith(("GATE_", "GITHUB_", "GITLAB_", "CI_")) or key in _LEAKY:
            monkeypatch.delenv(key, raising=False)
    # No validated-policy markers in the user's cache (gate.policy.cache); tests of the cache
    # point it somewhere themselves.
    monkeypatch.setenv("GATE_CACHE_DIR", "")
    yield
