"""Fixtures for the live-data building blocks: an isolated credentials-chain environment."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def _reload_chain_settings() -> None:
    # alibabacloud-credentials reads its environment variables (and HOME) once, at import;
    # re-reading them lets each test give the chain its own environment.
    from alibabacloud_credentials.utils import auth_constant, auth_util

    importlib.reload(auth_util)
    importlib.reload(auth_constant)


@pytest.fixture
def credentials_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Path]]:
    """Call with ``NAME=value`` pairs to give the credentials chain exactly that environment.

    HOME points at an empty temporary directory (no real ~/.aliyun or ~/.alibabacloud is
    read) and the ECS metadata lookup is disabled, so nothing leaves the machine. Returns
    the fake HOME so a test can put a credentials file there.
    """
    home = tmp_path / "home"
    home.mkdir()

    def apply(**env: str) -> Path:
        for name in list(os.environ):
            if name.startswith(("ALIBABA_CLOUD_", "ALICLOUD_")):
                monkeypatch.delenv(name)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        _reload_chain_settings()
        return home

    yield apply
    monkeypatch.undo()
    _reload_chain_settings()
