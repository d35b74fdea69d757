"""Credentials for the live API: the value type and a thin adapter over the official chain.

Owns :class:`Credentials` (whose repr never shows the secret or token) and
:func:`resolve_credentials`, which asks ``alibabacloud-credentials``' default provider chain.
That library costs about 0.4 s to import, so it is imported inside the function: only the
live-API path pays for it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from gate.errors import SourceError

# Shown when no provider yields credentials: every way the default chain can find them.
CREDENTIAL_SOURCES = (
    "environment: ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET "
    "(plus ALIBABA_CLOUD_SECURITY_TOKEN for an STS token)",
    "OIDC role (e.g. ACK RRSA): ALIBABA_CLOUD_OIDC_TOKEN_FILE, ALIBABA_CLOUD_OIDC_PROVIDER_ARN "
    "and ALIBABA_CLOUD_ROLE_ARN",
    "Alibaba Cloud CLI profile: ~/.aliyun/config.json (profile from ALIBABA_CLOUD_PROFILE)",
    "credentials file: ~/.alibabacloud/credentials.ini or ALIBABA_CLOUD_CREDENTIALS_FILE",
    "ECS instance RAM role (metadata service; ALIBABA_CLOUD_ECS_METADATA names the role)",
    "credentials URI: ALIBABA_CLOUD_CREDENTIALS_URI",
)

REDACTED = "<redacted>"

# Names whose values are secrets wherever they appear: query parameters (the STS request URL
# the library puts in its exception text), JSON or Python-repr fields (an STS or credentials-URI
# answer quoted back), ini lines and headers. Matched case-insensitively, as whole names.
SECRET_NAMES = (
    "OIDCToken",
    "AccessKeySecret",
    "access_key_secret",
    "accessKeySecret",
    "SecurityToken",
    "security_token",
    "securityToken",
    "sts_token",
    "x-acs-security-token",
    "Signature",
    "authorization",
    "bearer_token",
    "BearerToken",
    "IMAGE_GATE_ID_TOKEN",
    "token",
    "password",
    "private_key",
    "client_secret",
)
_NAMES = "|".join(re.escape(name) for name in SECRET_NAMES)
# name=value in a query string or ini line (value up to &, whitespace or a quote)
_PAIR_RE = re.compile(
    rf"(?i)(?<![A-Za-z0-9_-])((?:{_NAMES})\s*[=:]\s*)(?![\"'])([^&\s'\",;)\]}}]+)"
)
# "name": "value" / 'name': 'value' in JSON or a Python repr
_QUOTED_RE = re.compile(rf"(?i)([\"'](?:{_NAMES})[\"']\s*:\s*)([\"'])((?:\\.|(?!\2).)*)\2")
# A JWT (an OIDC ID token) anywhere: three base64url parts, the first a JSON header.
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_WORD = "A-Za-z0-9"
# user:password@ in a URL (a proxy URL quoted in an error)
_USERINFO_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret hidden: each known value in ``secrets`` (as a whole token,
    never inside a longer word, also in its URL-encoded form), the values of secret-bearing
    query parameters, JSON fields and ini keys (:data:`SECRET_NAMES`), and anything shaped
    like a JWT. For any text from the credentials library or the network before it is shown.
    """
    values = set()
    for secret in secrets:
        if secret:
            values.add(secret)
            values.add(quote(secret, safe=""))
            values.add(quote_plus(secret, safe=""))
    # Longest first, so a value containing another is replaced whole.
    for value in sorted(values, key=len, reverse=True):
        pattern = rf"(?<![{_WORD}]){re.escape(value)}(?![{_WORD}])"
        text = re.sub(pattern, REDACTED, text)
    text = _USERINFO_RE.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _QUOTED_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", text)
    text = _PAIR_RE.sub(lambda m: m.group(1) + REDACTED, text)
    return _JWT_RE.sub(REDACTED, text)


@dataclass(frozen=True)
class Credentials:
    """An AccessKey pair, optionally with an STS security token.

    ``provider`` says where the chain found them (e.g. ``default/env``), for debug output;
    ``origin`` says it for people (e.g. ``aliyun CLI profile 'default'``); ``profile_region``
    is the ``region_id`` of the aliyun CLI profile the credentials came from, if any.
    """

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    provider: str | None = None
    origin: str | None = None
    profile_region: str | None = None

    def __repr__(self) -> str:
        token = REDACTED if self.security_token else None
        return (
            f"Credentials(access_key_id={self.access_key_id!r}, "
            f"access_key_secret={REDACTED!r}, security_token={token!r}, "
            f"provider={self.provider!r})"
        )

    __str__ = __repr__

    def redact(self, text: str) -> str:
        """Hide the secret and token (as whole tokens) and secret-shaped fields in ``text``."""
        return redact_text(text, (self.access_key_secret, self.security_token))


# The library attaches its own stderr handlers at import: "credentials" prints failed ECS
# metadata lookups and refresh failures (with the STS URL and token) with tracebacks, and
# "alibabacloud-tea" prints raw request URLs and headers (tokens included) when DEBUG=sdk is
# set. The gate reports the chain's outcome itself.
LIBRARY_LOGGERS = ("credentials", "alibabacloud-tea")


def _silence_library_logging() -> None:
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def no_credentials_error(failures: Iterable[tuple[str, str]] = ()) -> SourceError:
    """The chain found nothing. ``failures`` are (source, redacted reason) pairs for the
    sources that were configured but failed: they lead the message, since a user who set
    one up wants to know why it did not work, not a list of every possible way."""
    ways = "; ".join(f"({i}) {way}" for i, way in enumerate(CREDENTIAL_SOURCES, start=1))
    tried = list(failures)
    if tried:
        reasons = "; ".join(f"{source}: {reason}" for source, reason in tried)
        return SourceError(
            f"no Alibaba Cloud credentials for the live API: {reasons}",
            hint="fix the credentials source named above (run with --debug for every "
            f"source the chain tried), or provide credentials in another way: {ways}",
        )
    return SourceError(
        "no Alibaba Cloud credentials found for the live API",
        hint=f"provide them in one of these ways: {ways}; or pass --snapshot to work offline",
    )


@dataclass(frozen=True)
class _Source:
    """One link of the chain: what to call it, whether the user set it up, and the provider."""

    label: str
    configured: bool
    make: Callable[[], Any]


def _env(name: str) -> str:
    return os.environ.get(name, "")


def _cli_config_path(home: str) -> str:
    return os.path.join(home, ".aliyun", "config.json")


def _cli_profile(home: str) -> tuple[str | None, dict[str, Any] | None]:
    """The aliyun CLI profile the chain reads (ALIBABA_CLOUD_PROFILE, else ``current``)."""
    try:
        with open(_cli_config_path(home), encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return None, None
    if not isinstance(config, dict):
        return None, None
    name = _env("ALIBABA_CLOUD_PROFILE") or config.get("current")
    profiles = config.get("profiles")
    if not isinstance(name, str) or not isinstance(profiles, list):
        return None, None
    for profile in profiles:
        if isinstance(profile, dict) and profile.get("name") == name:
            return name, profile
    return name, None


def _known_secrets(home: str) -> list[str]:
    """Secret values the chain may quote back in its errors, to hide them by value too."""
    found = [_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), _env("ALIBABA_CLOUD_SECURITY_TOKEN")]
    token_file = _env("ALIBABA_CLOUD_OIDC_TOKEN_FILE")
    if token_file:
        try:
            with open(token_file, encoding="utf-8", errors="replace") as handle:
                found.append(handle.read(65536).strip())
        except OSError:
            pass
    _, profile = _cli_profile(home)
    if profile is not None:
        for key in ("access_key_secret", "sts_token"):
            value = profile.get(key)
            if isinstance(value, str):
                found.append(value)
    return [value for value in found if value]


def _chain(home: str) -> list[_Source]:
    """The default chain of ``alibabacloud-credentials`` (provider/default.py), link by link,
    so each failure can be attributed to its source."""
    from alibabacloud_credentials.provider import (
        CLIProfileCredentialsProvider,
        EcsRamRoleCredentialsProvider,
        EnvironmentVariableCredentialsProvider,
        OIDCRoleArnCredentialsProvider,
        ProfileCredentialsProvider,
        URLCredentialsProvider,
    )

    oidc = (
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
        "ALIBABA_CLOUD_ROLE_ARN",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
    )
    profile_name, _ = _cli_profile(home)
    cli_file = _cli_config_path(home)
    ini_file = _env("ALIBABA_CLOUD_CREDENTIALS_FILE") or os.path.join(
        home, ".alibabacloud", "credentials.ini"
    )
    chain = [
        _Source(
            "environment variables (ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET)",
            bool(_env("ALIBABA_CLOUD_ACCESS_KEY_ID") or _env("ALIBABA_CLOUD_ACCESS_KEY_SECRET")),
            EnvironmentVariableCredentialsProvider,
        )
    ]
    if all(_env(name) for name in oidc):
        chain.append(
            _Source(
                "OIDC role (ALIBABA_CLOUD_OIDC_TOKEN_FILE, ALIBABA_CLOUD_ROLE_ARN)",
                True,
                OIDCRoleArnCredentialsProvider,
            )
        )
    cli_enabled = _env("ALIBABA_CLOUD_CLI_PROFILE_DISABLED").lower() != "true"
    chain.append(
        _Source(
            f"aliyun CLI profile {profile_name!r} ({cli_file})"
            if profile_name
            else f"aliyun CLI profile ({cli_file})",
            cli_enabled and os.path.isfile(cli_file),
            CLIProfileCredentialsProvider,
        )
    )
    chain.append(
        _Source(
            f"credentials file ({ini_file})",
            os.path.isfile(ini_file) or bool(_env("ALIBABA_CLOUD_CREDENTIALS_FILE")),
            ProfileCredentialsProvider,
        )
    )
    if _env("ALIBABA_CLOUD_ECS_METADATA_DISABLED").lower() != "true":
        chain.append(
            _Source(
                "ECS instance RAM role (metadata service)",
                bool(_env("ALIBABA_CLOUD_ECS_METADATA")),
                EcsRamRoleCredentialsProvider,
            )
        )
    if _env("ALIBABA_CLOUD_CREDENTIALS_URI"):
        chain.append(
            _Source("credentials URI (ALIBABA_CLOUD_CREDENTIALS_URI)", True, URLCredentialsProvider)
        )
    return chain


def resolve_credentials(*, log: Callable[[str], None] | None = None) -> Credentials:
    """Resolve credentials through the default provider chain, or raise :class:`SourceError`.

    The chain's links are tried in the library's order. Every reason a link gives is
    redacted (:func:`redact_text`) before it goes to ``log`` or into an error: the library
    quotes STS request URLs (with the OIDC token) and rejected answers (with secrets) in its
    exception text. When nothing yields credentials, the error names the sources that were
    configured and why each failed, or lists the ways to provide credentials. Note that the
    library reads some environment variables when first imported.
    """
    try:
        # Import every provider module first: each attaches its stderr handler at import,
        # and the handlers are removed right after.
        import alibabacloud_credentials.provider  # noqa: F401
        from alibabacloud_credentials.utils import auth_constant
    except ImportError as exc:  # a broken install, not a user mistake we can hint around
        raise SourceError(
            f"cannot load alibabacloud-credentials: {exc}",
            hint="reinstall acs-image-gate with its dependencies",
        ) from None
    _silence_library_logging()
    home = str(auth_constant.HOME)
    secrets = _known_secrets(home)

    def clean(text: str) -> str:
        return safe_line(redact_text(text, secrets))

    failures: list[tuple[str, str]] = []
    try:
        chain = _chain(home)
    except Exception as exc:  # the library's layout changed under us
        raise SourceError(
            clean(f"cannot set up the Alibaba Cloud credentials chain: {exc}"),
            hint="reinstall acs-image-gate with its dependencies",
        ) from None
    for source in chain:
        # Providers raise CredentialException when they decline, but can leak anything
        # (ValueError, OSError, JSON and network errors): all mean "not from here".
        try:
            found = source.make().get_credentials()
            access_key_id = found.get_access_key_id() or ""
            access_key_secret = found.get_access_key_secret() or ""
            security_token = found.get_security_token() or None
            provider = found.get_provider_name()
        except Exception as exc:
            reason = clean(f"{getattr(exc, 'message', None) or exc}") or type(exc).__name__
            if log is not None:
                log(f"credentials: {source.label}: {reason}")
            if source.configured:
                failures.append((source.label, reason))
            continue
        if not access_key_id or not access_key_secret:
            if source.configured:
                failures.append((source.label, "it gave no AccessKey ID or secret"))
            continue
        profile_region = None
        origin = source.label
        if provider and provider.startswith("cli_profile"):
            name, profile = _cli_profile(home)
            origin = f"aliyun CLI profile {name!r}"
            region = profile.get("region_id") if profile is not None else None
            profile_region = safe_line(region) if isinstance(region, str) and region else None
        creds = Credentials(
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            security_token=security_token,
            provider=f"default/{provider}" if provider else None,
            origin=origin,
            profile_region=profile_region,
        )
        if log is not None:
            log(
                f"credentials: access key id {safe_line(creds.access_key_id)} from {origin}"
                f" ({creds.provider or '?'})"
            )
        return creds
    raise no_credentials_error(failures)


def safe_line(text: str, limit: int = 500) -> str:
    """Untrusted text as data: one line, every control character (ESC, CR, NUL, C1...)
    shown as an escape (``\\x1b``), cut to ``limit`` characters. Line breaks become spaces,
    so nothing can start a line of its own (``::error``, ``::stop-commands::``)."""
    flat = "".join(_escape(ch) for ch in " ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _escape(ch: str) -> str:
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"
