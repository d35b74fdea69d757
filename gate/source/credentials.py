"""Credentials for the live API: the value type and a thin adapter over the official chain.

Owns :class:`Credentials` (whose repr never shows the secret or token) and
:func:`resolve_credentials`, which asks ``alibabacloud-credentials``' default provider chain.
That library costs about 0.4 s to import, so it is imported inside the function: only the
live-API path pays for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

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

# The library attaches its own stderr handlers at import: "credentials" prints failed ECS
# metadata lookups with tracebacks, and "alibabacloud-tea" prints raw request URLs and
# headers (tokens included) when DEBUG=sdk is set. The gate reports the chain's outcome itself.
LIBRARY_LOGGERS = ("credentials", "alibabacloud-tea")


@dataclass(frozen=True)
class Credentials:
    """An AccessKey pair, optionally with an STS security token.

    ``provider`` says where the chain found them (e.g. ``default/env``), for debug output.
    """

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    provider: str | None = None

    def __repr__(self) -> str:
        token = REDACTED if self.security_token else None
        return (
            f"Credentials(access_key_id={self.access_key_id!r}, "
            f"access_key_secret={REDACTED!r}, security_token={token!r}, "
            f"provider={self.provider!r})"
        )

    __str__ = __repr__

    def redact(self, text: str) -> str:
        """Replace the secret and token wherever they occur in ``text``."""
        for secret in (self.access_key_secret, self.security_token):
            if secret:
                text = text.replace(secret, REDACTED)
        return text


def _silence_library_logging() -> None:
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def no_credentials_error() -> SourceError:
    ways = "; ".join(f"({i}) {way}" for i, way in enumerate(CREDENTIAL_SOURCES, start=1))
    return SourceError(
        "no Alibaba Cloud credentials found for the live API",
        hint=f"provide them in one of these ways: {ways}; or pass --snapshot to work offline",
    )


def resolve_credentials(*, log: Callable[[str], None] | None = None) -> Credentials:
    """Resolve credentials through the default provider chain, or raise :class:`SourceError`.

    The chain's per-provider reasons go to ``log`` (they name files and variables, never
    values); the error itself lists the ways to provide credentials and carries no library
    traceback. Note that the library reads its environment variables when first imported.
    """
    try:
        from alibabacloud_credentials.client import (
            Client as CredentialClient,
        )
    except ImportError as exc:  # a broken install, not a user mistake we can hint around
        raise SourceError(
            f"cannot load alibabacloud-credentials: {exc}",
            hint="reinstall acs-image-gate with its dependencies",
        ) from None
    _silence_library_logging()

    # The chain raises CredentialException when every provider declines, but individual
    # providers can leak other exceptions (ValueError, OSError, JSON errors): all mean "none".
    try:
        model = CredentialClient().get_credential()
    except Exception as exc:
        if log is not None:
            log(f"credentials chain: {type(exc).__name__}: {getattr(exc, 'message', exc)}")
        raise no_credentials_error() from None

    access_key_id = model.access_key_id or ""
    access_key_secret = model.access_key_secret or ""
    if not access_key_id or not access_key_secret:
        raise no_credentials_error()
    creds = Credentials(
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        security_token=model.security_token or None,
        provider=model.provider_name,
    )
    if log is not None:
        log(f"credentials: access key id {creds.access_key_id} from {creds.provider or '?'}")
    return creds
