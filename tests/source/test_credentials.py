"""The credentials adapter: the default chain through the environment, and a helpful failure."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gate.errors import EXIT_DATA, SourceError
from gate.source.credentials import (
    LIBRARY_LOGGERS,
    Credentials,
    redact_text,
    resolve_credentials,
)

ROOT = Path(__file__).resolve().parents[2]


def test_access_key_from_environment(credentials_env: Callable[..., Path]) -> None:
    credentials_env(
        ALIBABA_CLOUD_ACCESS_KEY_ID="env-id",
        ALIBABA_CLOUD_ACCESS_KEY_SECRET="env-secret",
    )
    creds = resolve_credentials()
    assert creds.access_key_id == "env-id"
    assert creds.access_key_secret == "env-secret"
    assert creds.security_token is None
    assert creds.provider is not None and "env" in creds.provider


def test_sts_token_from_environment(credentials_env: Callable[..., Path]) -> None:
    credentials_env(
        ALIBABA_CLOUD_ACCESS_KEY_ID="STS.id",
        ALIBABA_CLOUD_ACCESS_KEY_SECRET="sts-secret",
        ALIBABA_CLOUD_SECURITY_TOKEN="sts-token+/=",
    )
    creds = resolve_credentials()
    assert (creds.access_key_id, creds.access_key_secret, creds.security_token) == (
        "STS.id",
        "sts-secret",
        "sts-token+/=",
    )


def test_credentials_file_in_home(credentials_env: Callable[..., Path]) -> None:
    home = credentials_env()
    ini = home / ".alibabacloud" / "credentials.ini"
    ini.parent.mkdir()
    ini.write_text(
        "[default]\ntype = access_key\naccess_key_id = file-id\naccess_key_secret = file-secret\n"
    )
    creds = resolve_credentials()
    assert (creds.access_key_id, creds.access_key_secret) == ("file-id", "file-secret")


def test_no_credentials_is_a_source_error_listing_the_ways(
    credentials_env: Callable[..., Path],
) -> None:
    credentials_env()
    lines: list[str] = []
    with pytest.raises(SourceError) as caught:
        resolve_credentials(log=lines.append)
    error = caught.value
    assert error.exit_code == EXIT_DATA
    text = error.render()
    for needle in (
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
        "ALIBABA_CLOUD_ROLE_ARN",
        "~/.aliyun/config.json",
        "credentials.ini",
        "ECS instance RAM role",
        "ALIBABA_CLOUD_CREDENTIALS_URI",
    ):
        assert needle in text
    # One message and a hint; no library internals or traceback.
    assert "Traceback" not in text
    assert "CredentialException" not in text
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    # Nothing was configured, so the message is the generic one ...
    assert error.message == "no Alibaba Cloud credentials found for the live API"
    # ... and each link's reason is there for --debug.
    assert any(line.startswith("credentials: environment variables") for line in lines)
    assert any("aliyun CLI profile" in line for line in lines)


def test_library_loggers_print_nothing(
    credentials_env: Callable[..., Path], capfd: pytest.CaptureFixture[str]
) -> None:
    credentials_env()
    with pytest.raises(SourceError):
        resolve_credentials()
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.warning("Refresh credentials failed", exc_info=ValueError("boom"))
        logger.debug("> x-acs-security-token : secret-token")
        assert all(isinstance(h, logging.NullHandler) for h in logger.handlers)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_half_configured_environment_is_no_credentials(
    credentials_env: Callable[..., Path],
) -> None:
    credentials_env(ALIBABA_CLOUD_ACCESS_KEY_ID="only-the-id")
    with pytest.raises(SourceError, match="no Alibaba Cloud credentials"):
        resolve_credentials()


def test_repr_and_str_never_show_secret_or_token() -> None:
    creds = Credentials("the-id", "the-secret", "the-token", provider="default/env")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert "the-id" in text
        assert "the-secret" not in text
        assert "the-token" not in text
    assert "security_token=None" in repr(Credentials("id", "s"))


def test_redact_replaces_secret_and_token() -> None:
    creds = Credentials("id", "s3cr3t", "t0k3n")
    assert creds.redact("a s3cr3t b t0k3n c id") == "a <redacted> b <redacted> c id"


def test_library_is_not_imported_until_needed() -> None:
    code = (
        "import sys, gate.source.credentials, gate.source.api, gate.source.signer; "
        "print('alibabacloud_credentials' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# --- redaction -----------------------------------------------------------------------------


def test_redact_text_hides_secret_fields_and_tokens() -> None:
    text = (
        "url /?Action=AssumeRoleWithOIDC&OIDCToken=eyJhbGciOi.eyJzdWIi.c2ln&RoleArn=r "
        '{"AccessKeySecret": "json-secret", "SecurityToken":"json-token"} '
        "{'access_key_secret': 'repr-secret'} access_key_secret = ini-secret "
        "Signature=sig-value&x=1 http://user:proxy-pw@127.0.0.1:1 bare eyJabcdefgh.eyJpayload.sig"
    )
    out = redact_text(text)
    for secret in (
        "eyJzdWIi",
        "json-secret",
        "json-token",
        "repr-secret",
        "ini-secret",
        "sig-value",
        "proxy-pw",
        "eyJpayload",
    ):
        assert secret not in out
    assert "RoleArn=r" in out and "x=1" in out and "127.0.0.1:1" in out


def test_redact_text_replaces_whole_values_only() -> None:
    # A one-letter dummy secret must not eat letters out of host names or hints.
    text = "cannot connect to tds.cn-shanghai.aliyuncs.com: check a proxy; secret=a; a"
    out = redact_text(text, ["a"])
    assert "tds.cn-shanghai.aliyuncs.com" in out
    assert out.endswith("; <redacted>")
    assert redact_text("x s3cr3t%2B y", ["s3cr3t+"]) == "x <redacted> y"


def test_configured_source_failure_is_named(credentials_env: Callable[..., Path]) -> None:
    home = credentials_env()
    (home / ".aliyun").mkdir()
    (home / ".aliyun" / "config.json").write_text(
        '{"current": "dev", "profiles": [{"name": "dev", "mode": "Nonsense"}]}'
    )
    with pytest.raises(SourceError) as caught:
        resolve_credentials()
    assert "aliyun CLI profile 'dev'" in caught.value.message
    assert "no Alibaba Cloud credentials found" not in caught.value.message


def test_cli_profile_credentials_carry_the_profile_region(
    credentials_env: Callable[..., Path],
) -> None:
    home = credentials_env()
    (home / ".aliyun").mkdir()
    profile = {
        "name": "default",
        "mode": "AK",
        "access_key_id": "cli-id",
        "access_key_secret": "cli-secret",
        "region_id": "ap-southeast-1",
    }
    config = {"current": "default", "profiles": [profile]}
    (home / ".aliyun" / "config.json").write_text(json.dumps(config))
    creds = resolve_credentials()
    assert (creds.access_key_id, creds.profile_region) == ("cli-id", "ap-southeast-1")
    assert creds.origin == "aliyun CLI profile 'default'"


def test_env_credentials_have_no_profile_region(credentials_env: Callable[..., Path]) -> None:
    home = credentials_env(
        ALIBABA_CLOUD_ACCESS_KEY_ID="env-id", ALIBABA_CLOUD_ACCESS_KEY_SECRET="env-secret"
    )
    (home / ".aliyun").mkdir()
    (home / ".aliyun" / "config.json").write_text(
        '{"current": "default", "profiles": [{"name": "default", "mode": "AK", '
        '"access_key_id": "i", "access_key_secret": "s", "region_id": "ap-southeast-1"}]}'
    )
    creds = resolve_credentials()
    assert creds.access_key_id == "env-id"
    assert creds.profile_region is None
