"""gate.ci.github_oidc: the workflow's OIDC token, fetched from a local stand-in."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gate.ci.github_oidc import request_token, token_url, write_private
from gate.errors import SourceError, UsageError
from tests.ci.conftest import TokenService


def env_for(service: TokenService) -> dict[str, str]:
    return {
        "ACTIONS_ID_TOKEN_REQUEST_URL": service.url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": service.bearer,
    }


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (
            "https://t.example/x?api-version=2.0",
            "https://t.example/x?api-version=2.0&audience=a%2Fb",
        ),
        ("https://t.example/x", "https://t.example/x?audience=a%2Fb"),
        ("https://t.example/x?audience=old&v=1", "https://t.example/x?v=1&audience=a%2Fb"),
    ],
)
def test_token_url_sets_the_audience(base: str, expected: str) -> None:
    assert token_url(base, "a/b") == expected


def test_token_is_requested_with_the_bearer_and_audience(token_service: TokenService) -> None:
    assert request_token(env_for(token_service), "sts.aliyuncs.com") == token_service.token
    [request] = token_service.requests
    assert request["authorization"] == f"bearer {token_service.bearer}"
    assert request["path"].endswith("?api-version=2.0&audience=sts.aliyuncs.com")


def test_server_errors_are_retried(token_service: TokenService) -> None:
    token_service.status = [503, 500]
    waits: list[float] = []
    assert request_token(env_for(token_service), "aud", sleep=waits.append) == token_service.token
    assert len(token_service.requests) == 3
    assert len(waits) == 2


def test_client_errors_are_not_retried_and_never_echo_secrets(
    token_service: TokenService,
) -> None:
    token_service.status = [403]
    with pytest.raises(SourceError) as caught:
        request_token(env_for(token_service), "aud", sleep=lambda s: None)
    assert len(token_service.requests) == 1
    text = caught.value.render()
    assert "HTTP 403" in text
    assert token_service.bearer not in text


def test_missing_permission_is_a_usage_error_that_names_it() -> None:
    with pytest.raises(UsageError) as caught:
        request_token({}, "aud")
    assert "permissions: id-token: write" in caught.value.render()


def test_unreachable_service(tmp_path: Path) -> None:
    env = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/token?x=1",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "b",
    }
    with pytest.raises(SourceError) as caught:
        request_token(env, "aud", sleep=lambda s: None)
    assert "cannot reach the token service" in caught.value.render()


def test_token_file_is_private_even_if_it_existed(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("old contents that are longer")
    path.chmod(0o644)
    write_private(str(path), "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "new"


def test_module_masks_then_writes(token_service: TokenService, tmp_path: Path) -> None:
    path = tmp_path / "t"
    done = subprocess.run(
        [sys.executable, "-m", "gate.ci.github_oidc", "--token-file", str(path)],
        env={**env_for(token_service), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"::add-mask::{token_service.token}\n"
    assert token_service.token not in done.stderr
    assert path.read_text() == token_service.token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_module_exit_code_without_permission(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gate.ci.github_oidc", "--token-file", str(tmp_path / "t")],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "id-token: write" in done.stderr
    assert not (tmp_path / "t").exists()
