"""Fixtures for the CI integration tests: the emulator as a real process, a stand-in for
GitHub's OIDC token service, and a ranking with a clean and a risky namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import image_entry, ranking_body

RANKING = ranking_body(
    [
        image_entry("prod", "api", "app:v2", detail={"imageVulAsap": 3, "imageVulLater": 60}),
        image_entry("prod", "web", "1.0", detail={"imageVulAsap": 1, "imageVulLater": 0}),
    ],
    [image_entry("clean", "api", "1.0", detail={"imageVulAsap": 0, "imageVulLater": 0})],
)
POLICY = """\
version: 1
name: ci
rules:
  - id: urgent
    fail_if: imageVulAsap > 0
  - id: budget
    fail_if: imageVulLater > 50
    enforcement: advisory
"""
TEST_KEYS = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "gate-test-id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "gate-test-secret",
}


@pytest.fixture(scope="session")
def ci_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ci-files")
    ranking = root / "ranking.json"
    ranking.write_text(json.dumps(RANKING), encoding="utf-8")
    policy = root / "ci-policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    return {"ranking": ranking, "policy": policy}


@pytest.fixture(scope="session")
def emulator_url(ci_files: dict[str, Path]) -> Iterator[str]:
    """``python -m gate.emulator`` serving the ranking on a free loopback port."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gate.emulator",
            "--port",
            "0",
            "--quiet",
            "--response",
            str(ci_files["ranking"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    prefix = "gate emulator listening on "
    assert first.startswith(prefix), f"unexpected emulator output: {first!r}"
    yield first[len(prefix) :]
    process.terminate()
    process.wait(timeout=10)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A job environment: the test interpreter's bin first, no proxies, no stray config."""
    bindir = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
    }
    env.update(extra)
    return env


@dataclass
class TokenService:
    """What the stand-in for ACTIONS_ID_TOKEN_REQUEST_URL saw and answers."""

    url: str = ""
    token: str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm8vciJ9.c2lnbmF0dXJlLXRlc3Q"
    bearer: str = "request-bearer-7f3a"
    status: list[int] = field(default_factory=list)  # statuses to answer before the token
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def token_service() -> Iterator[TokenService]:
    """GitHub's OIDC token endpoint, on 127.0.0.1: checks the bearer, echoes the audience."""
    service = TokenService()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            service.requests.append(
                {"path": self.path, "authorization": self.headers.get("Authorization")}
            )
            if self.headers.get("Authorization") != f"bearer {service.bearer}":
                self.send_response(401)
                self.end_headers()
                return
            if service.status:
                self.send_response(service.status.pop(0))
                self.end_headers()
                return
            body = json.dumps({"value": service.token, "count": 1}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    service.url = f"http://127.0.0.1:{server.server_port}/_apis/token?api-version=2.0"
    yield service
    server.shutdown()
    server.server_close()
