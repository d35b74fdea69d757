"""The live Security Center client: ``GetDockerhubImageRiskRankInfo``, and any other action of
the same API (a :class:`Session` calls an action with a query; :mod:`gate.source.vulns` uses
it for ``DescribeImageVulList``).

Owns everything between "the user wants live data" and "here is the parsed API body": the
region to endpoint mapping, ``--endpoint`` parsing, the signed ``POST /``, retries with
exponential backoff and full jitter inside one overall deadline, and the translation of every
failure into a single :class:`~gate.errors.SourceError` line (code, HTTP status, message,
request id, Recommend link, and a hint for the common ones). It fails closed: a body that is
not JSON or has no ``RiskRankInfo`` object is an error, never an empty ranking.

Redirects are not followed: a 3xx is reported with its ``Location``. Following one would send
the signed request (and any STS token) to a place the user never chose, and the RPC API has no
legitimate reason to redirect.

httpx is imported here and only here; the CLI imports this module lazily.
"""

from __future__ import annotations

import datetime as dt
import difflib
import email.utils
import functools
import json
import os
import random as random_module
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import httpx

from gate import __version__
from gate.errors import SourceError, UsageError
from gate.source.credentials import (
    REDACTED,
    Credentials,
    redact_text,
    resolve_credentials,
    safe_line,
)
from gate.source.signer import AcsV3Auth, canonical_query, format_date

ACTION = "GetDockerhubImageRiskRankInfo"
VERSION = "2018-12-03"
RANKING_TYPES = ("vulAsap", "baseline")
DEFAULT_RETRIES = 3
DEFAULT_TIMEOUT = 60.0
# The least time the credentials chain is given (it has its own bound, see fetch_ranking).
CREDENTIALS_TIMEOUT = 30.0

# The official SDK's endpoint map for Sas 2018-12-03 sends every cn-* region (Hong Kong too)
# to Shanghai and every other region to Singapore; the prefix rule reproduces it exactly and
# also covers regions added after the map was generated.
MAINLAND_ENDPOINT = "tds.cn-shanghai.aliyuncs.com"
INTERNATIONAL_ENDPOINT = "tds.ap-southeast-1.aliyuncs.com"

# A ranking is a few hundred KiB at most; anything this large is a broken proxy or a hostile
# endpoint, and reading it unbounded would let it exhaust memory. ``max_body_bytes`` (the
# CLI's --max-response-mb) raises it for an account with a very large ranking.
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_BODY_OPTION = "--max-response-mb N (or GATE_MAX_RESPONSE_MB)"
# The ranking is four levels deep; a body nested deeper than this is not a ranking, and
# walking it (here or in a report writer) could exhaust the interpreter's recursion limit.
MAX_JSON_DEPTH = 64

DEFAULT_REGION = "cn-hangzhou"
# Region ids of Alibaba Cloud's public, finance and government regions (2026). A region not
# listed still works (the endpoint follows from its cn- prefix), but is reported as a
# warning, since it is most likely a typo (cn-hanzhou) that would send the call elsewhere.
KNOWN_REGIONS = frozenset(
    {
        "cn-qingdao",
        "cn-beijing",
        "cn-zhangjiakou",
        "cn-huhehaote",
        "cn-wulanchabu",
        "cn-hangzhou",
        "cn-shanghai",
        "cn-nanjing",
        "cn-fuzhou",
        "cn-wuhan-lr",
        "cn-shenzhen",
        "cn-heyuan",
        "cn-guangzhou",
        "cn-chengdu",
        "cn-hongkong",
        "cn-hangzhou-finance",
        "cn-shanghai-finance-1",
        "cn-shenzhen-finance-1",
        "cn-beijing-finance-1",
        "cn-north-2-gov-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ap-south-1",
        "us-east-1",
        "us-west-1",
        "eu-west-1",
        "eu-central-1",
        "me-east-1",
        "me-central-1",
        "na-south-1",
    }
)

BACKOFF_BASE = 0.5
BACKOFF_CAP = 10.0

USER_AGENT = f"acs-image-gate/{__version__}"
SENSITIVE_HEADERS = frozenset({"authorization", "x-acs-security-token"})

_REGION_RE = re.compile(r"^[a-z]{2,}(?:-[a-z0-9]+)+$")
_HOST_RE = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")

RAM_HINT = (
    "grant the RAM user or role the gate runs as the permission "
    "yundun-sas:GetDockerhubImageRiskRankInfo (for example the system policy "
    "AliyunYundunSASReadOnlyAccess)"
)
KEY_HINT = (
    "check the credentials the default chain resolved (ALIBABA_CLOUD_ACCESS_KEY_ID / "
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET / ALIBABA_CLOUD_SECURITY_TOKEN, the CLI profile, the "
    "credentials file or the RAM role); an STS token expires and must be refreshed"
)
SIGNATURE_HINT = (
    "the AccessKey secret does not match the AccessKey ID: check the secret the credentials "
    "chain resolved (ALIBABA_CLOUD_ACCESS_KEY_SECRET, the CLI profile or the credentials file), "
    "or whether something between here and the endpoint alters requests"
)
_KEY_CODES = (
    "InvalidAccessKeyId",
    "InvalidSecurityToken",
    "MissingSecurityToken",
    "Forbidden.AccessKey",
)
THROTTLE_HINT = "Security Center is throttling this account; run fewer gates at once or retry later"


@dataclass(frozen=True)
class LiveResponse:
    """One successful live call."""

    body: dict[str, Any]
    """The parsed API body, exactly as the service sent it (``RiskRankInfo`` is an object)."""
    request_id: str | None
    """The service's RequestId (body first, then the ``x-acs-request-id`` header)."""
    region: str
    endpoint: str
    """The base URL that answered, e.g. ``https://tds.cn-shanghai.aliyuncs.com``."""
    fetched_at: str
    """When the answer arrived, ISO 8601 UTC to the second (``2026-11-28T21:00:00Z``)."""
    attempts: int
    """How many requests it took (1 when the first one succeeded)."""
    region_origin: str = "default"
    """Where ``region`` came from: the caller's ``region_origin`` (e.g. ``--region``), the
    aliyun CLI profile (``aliyun CLI profile 'default'``) or ``default``."""
    warnings: tuple[str, ...] = ()
    """Things the user should know that did not stop the call (an unknown region id)."""


def validate_region(region: str) -> str:
    """Return the region id, or raise :class:`UsageError` when it is not shaped like one."""
    if not _REGION_RE.match(region) or len(region) > 64:
        raise UsageError(
            f"invalid region {region!r}",
            hint="region ids look like cn-hangzhou or ap-southeast-1 (lower case)",
        )
    return region


def region_warnings(region: str, origin: str) -> list[str]:
    """A warning when ``region`` is not in :data:`KNOWN_REGIONS` (with the closest match)."""
    if region in KNOWN_REGIONS:
        return []
    close = difflib.get_close_matches(region, sorted(KNOWN_REGIONS), n=1, cutoff=0.8)
    guess = f"; did you mean {close[0]}?" if close else ""
    host = endpoint_for_region(region)
    return [
        f"region {region!r} (from {origin}) is not a region id the gate knows{guess} "
        f"The call goes to {host}."
    ]


def resolve_region(
    region: str | None, region_origin: str | None, creds: Credentials
) -> tuple[str, str]:
    """The region to use and where it came from: the caller's region, else the ``region_id``
    of the aliyun CLI profile the credentials came from (as the aliyun CLI does), else
    :data:`DEFAULT_REGION`."""
    if region is not None:
        return validate_region(region), region_origin or "--region"
    if creds.profile_region:
        origin = creds.origin or "the aliyun CLI profile"
        try:
            return validate_region(creds.profile_region), origin
        except UsageError as exc:
            raise UsageError(
                f"{exc.message} (region_id of {origin})",
                hint="fix region_id in ~/.aliyun/config.json or pass --region",
            ) from None
    return DEFAULT_REGION, "default"


def endpoint_for_region(region: str) -> str:
    """The official Security Center host for a region id (a host name, no scheme)."""
    validate_region(region)
    return MAINLAND_ENDPOINT if region.startswith("cn-") else INTERNATIONAL_ENDPOINT


def parse_endpoint(text: str) -> str:
    """Normalise ``--endpoint`` (a host, ``host:port`` or full URL) to a base URL.

    A bare host means HTTPS; plain HTTP only when the user writes ``http://``. User info,
    paths, queries and fragments are refused rather than silently dropped.
    """
    raw = text.strip()
    if not raw:
        raise UsageError("empty --endpoint", hint="give a host name or a URL")
    url = raw if "://" in raw else f"https://{raw}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"invalid endpoint {text!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UsageError(f"invalid endpoint {text!r}: only https:// and http:// URLs are supported")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"invalid endpoint {text!r}: it must not carry user information",
            hint="credentials come from the Alibaba Cloud credentials chain, never the URL",
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(
            f"invalid endpoint {text!r}: give only scheme, host and port",
            hint="the API is always called at the path /",
        )
    host = (parts.hostname or "").lower()
    if not host or not (":" in host or _HOST_RE.match(host)):
        raise UsageError(f"invalid endpoint {text!r}: no valid host name")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}"


def resolve_endpoint(region: str, endpoint: str | None) -> str:
    """The base URL to call: ``endpoint`` when given, else the region's official host."""
    if endpoint is not None:
        return parse_endpoint(endpoint)
    return f"https://{endpoint_for_region(region)}"


def validate_types(types: Iterable[str]) -> tuple[str, ...]:
    """Canonical, de-duplicated ranking types (``vulAsap``, ``baseline``), or UsageError."""
    known = {t.lower(): t for t in RANKING_TYPES}
    result: list[str] = []
    for name in types:
        canonical = known.get(name.strip().lower())
        if canonical is None:
            raise UsageError(
                f"unknown ranking type {name!r}", hint=f"choose from {', '.join(RANKING_TYPES)}"
            )
        if canonical not in result:
            result.append(canonical)
    if not result:
        raise UsageError("no ranking type selected", hint=f"choose from {', '.join(RANKING_TYPES)}")
    return tuple(result)


def ranking_query(types: Iterable[str]) -> list[tuple[str, str]]:
    """The request query: the list flattened as the SDK does (``Types.1``, ``Types.2``, ...)."""
    return [(f"Types.{i}", name) for i, name in enumerate(types, start=1)]


def redact_headers(headers: Iterable[tuple[str, str]]) -> str:
    """Headers as one log line, with Authorization and the STS token replaced."""
    return ", ".join(
        f"{name}: {REDACTED if name.lower() in SENSITIVE_HEADERS else value}"
        for name, value in headers
    )


def retry_after_seconds(headers: httpx.Headers, now: dt.datetime) -> float | None:
    """The server's retry hint in seconds, if any.

    ``x-acs-retry-after`` is in milliseconds (as the official SDK reads it); the standard
    ``Retry-After`` is delay-seconds or an HTTP date.
    """
    acs = headers.get("x-acs-retry-after")
    if acs is not None:
        try:
            millis = float(acs)
        except ValueError:
            millis = -1.0
        if millis >= 0:
            return millis / 1000.0
    standard = headers.get("retry-after")
    if standard is None:
        return None
    try:
        seconds = float(standard)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(standard)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        seconds = (when - now).total_seconds()
    return max(seconds, 0.0)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _one_line(text: str, limit: int = 300) -> str:
    """Text from the API or the network as data: one line, control characters escaped."""
    return safe_line(text, limit)


def _api_field(value: object) -> str | None:
    """An error-envelope field (Code, RequestId, Recommend) as a safe single line, or None."""
    if value is None or value == "":
        return None
    return _one_line(str(value), 200) or None


def _excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", errors="replace")
    return _one_line(text, 120) or "(empty)"


class _TooDeep(ValueError):
    pass


def _loads(body: bytes) -> Any:
    """``json.loads`` that refuses nesting deeper than :data:`MAX_JSON_DEPTH` (ValueError)."""
    try:
        parsed = json.loads(body)
    except RecursionError:
        raise _TooDeep from None
    stack: list[tuple[Any, int]] = [(parsed, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise _TooDeep
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return parsed


@dataclass(frozen=True)
class _Failure:
    """Why one attempt failed, and whether another attempt could help."""

    message: str
    retryable: bool
    hint: str | None = None
    code: str | None = None
    status: int | None = None
    request_id: str | None = None
    recommend: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class _Success:
    body: dict[str, Any]
    request_id: str | None


def _api_hint(code: str, status: int, sent_date: str | None, action: str = ACTION) -> str | None:
    if code.startswith("Throttling"):
        return THROTTLE_HINT
    if code == "SignatureDoesNotMatch":
        return SIGNATURE_HINT
    if code.startswith(_KEY_CODES):
        return KEY_HINT
    if code.startswith("InvalidTimeStamp") or code == "RequestTimeTooSkewed":
        said = f" (it sent {sent_date})" if sent_date else ""
        return (
            "the service rejects requests whose x-acs-date is more than 15 minutes off its "
            f"clock: synchronise this machine's clock (NTP){said}"
        )
    if status == 403 or code == "NoPermission" or code.startswith("Forbidden"):
        return RAM_HINT.replace(ACTION, action)
    if code.startswith("InvalidAction") or code == "InvalidVersion":
        return "the endpoint does not serve Security Center API 2018-12-03: check --endpoint"
    if status >= 500:
        return "Security Center had a server-side failure; try again later"
    return None


def _error_failure(
    response: httpx.Response, body: bytes, now: dt.datetime, action: str = ACTION
) -> _Failure:
    status = response.status_code
    envelope: dict[str, Any] = {}
    try:
        parsed = _loads(body)
        if isinstance(parsed, dict):
            envelope = parsed
    except ValueError:
        pass
    code = _api_field(envelope.get("Code")) or ""
    message = envelope.get("Message")
    text = _one_line(str(message)) if message else f"HTTP {status}, body: {_excerpt(body)}"
    request_id = _api_field(envelope.get("RequestId") or response.headers.get("x-acs-request-id"))
    recommend = _api_field(envelope.get("Recommend"))
    retryable = status >= 500 or status == 429 or code.startswith("Throttling")
    verb = "failed" if status >= 500 else "refused the request"
    return _Failure(
        message=f"Security Center {verb}: {text}",
        retryable=retryable,
        hint=_api_hint(code, status, response.request.headers.get("x-acs-date"), action),
        code=code or None,
        status=status,
        request_id=request_id,
        recommend=recommend,
        retry_after=retry_after_seconds(response.headers, now) if retryable else None,
    )


def _redirect_failure(response: httpx.Response) -> _Failure:
    location = _one_line(response.headers.get("location", "(no Location header)"))
    return _Failure(
        message=f"the endpoint redirected to {location}; redirects are not followed, so the "
        "signed request and any token stay with the endpoint you chose",
        retryable=False,
        status=response.status_code,
        hint="if that address is the genuine Security Center endpoint, pass it as --endpoint",
    )


def _body_failure(
    response: httpx.Response, body: bytes, check_body: BodyCheck
) -> _Failure | _Success:
    request_id = _api_field(response.headers.get("x-acs-request-id"))
    try:
        parsed = _loads(body)
    except _TooDeep:
        return _Failure(
            message=f"the response is nested more than {MAX_JSON_DEPTH} levels deep, "
            "which no Security Center answer is",
            retryable=False,
            status=response.status_code,
            request_id=request_id,
            hint="is --endpoint a Security Center endpoint? the gate never evaluates a "
            "malformed answer",
        )
    except ValueError:
        return _Failure(
            message=f"the response is not JSON: {_excerpt(body)}",
            retryable=False,
            status=response.status_code,
            request_id=request_id,
            hint="is --endpoint a Security Center endpoint? a proxy or portal may be answering",
        )
    if not isinstance(parsed, dict):
        return _Failure(
            message=f"the response is JSON but not an object: {_excerpt(body)}",
            retryable=False,
            status=response.status_code,
            request_id=request_id,
        )
    request_id = _api_field(parsed.get("RequestId") or request_id)
    problem = check_body(parsed)
    if problem is not None:
        code = _api_field(parsed.get("Code"))
        detail = f": {_one_line(str(parsed.get('Message') or ''))}" if code else ""
        return _Failure(
            message=f"the response {problem}{detail}",
            retryable=False,
            code=code,
            status=response.status_code,
            request_id=request_id,
            hint="the gate never treats a malformed answer as an empty one",
        )
    return _Success(body=parsed, request_id=request_id)


def _exception_text(exc: BaseException) -> str:
    return _one_line(f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))


def _transport_failure(exc: httpx.HTTPError, host: str, scheme: str) -> _Failure:
    reach = (
        f"check that {host} is reachable from here (DNS, firewall, HTTPS_PROXY/NO_PROXY), "
        "or choose another endpoint with --endpoint"
    )
    text = _exception_text(exc)
    if isinstance(exc, httpx.TimeoutException):
        return _Failure(f"{host} did not answer in time ({type(exc).__name__})", True, reach)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return _Failure(f"cannot send the request to {host}: {text}", False)
    if isinstance(exc, httpx.ConnectError) and _certificate_problem(exc):
        return _Failure(
            f"the TLS certificate of {host} could not be verified: {text}",
            False,
            "if a proxy intercepts TLS, point SSL_CERT_FILE at its CA bundle",
        )
    if isinstance(exc, httpx.ConnectError) and _protocol_mismatch(exc):
        # Another attempt meets the same server speaking the same protocol.
        hint = (
            f"the server at {host} does not speak TLS; if it is a plain-HTTP endpoint (such "
            f"as the emulator), write the scheme: --endpoint http://{host}"
            if scheme == "https"
            else None
        )
        return _Failure(f"the TLS handshake with {host} failed: {text}", False, hint)
    if isinstance(exc, httpx.ConnectError):
        return _Failure(f"cannot connect to {host}: {text}", True, reach)
    if isinstance(exc, httpx.TransportError):
        return _Failure(f"the connection to {host} failed: {type(exc).__name__}: {text}", True)
    return _Failure(f"cannot read the response from {host}: {type(exc).__name__}: {text}", False)


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: BaseException | None = exc
    for _ in range(20):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _certificate_problem(exc: BaseException) -> bool:
    if any(isinstance(seen, ssl.SSLCertVerificationError) for seen in _causes(exc)):
        return True
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


_MISMATCH = (
    "WRONG_VERSION_NUMBER",
    "wrong version number",
    "UNKNOWN_PROTOCOL",
    "unknown protocol",
    "PACKET_LENGTH_TOO_LONG",
    "HTTP_REQUEST",
    "RECORD_LAYER_FAILURE",
    "record layer failure",
    "TLSV1_ALERT_PROTOCOL_VERSION",
    "UNSUPPORTED_PROTOCOL",
    "NO_PROTOCOLS_AVAILABLE",
)


def _protocol_mismatch(exc: BaseException) -> bool:
    """A TLS handshake that failed because the two sides do not speak the same protocol
    (TLS against plain HTTP, no common version): not a network glitch, so not retried."""
    for seen in _causes(exc):
        if isinstance(seen, ssl.SSLError) and not isinstance(seen, ssl.SSLCertVerificationError):
            return any(marker in str(seen) for marker in _MISMATCH)
    return any(marker in str(exc) for marker in _MISMATCH)


class _Abandoned(Exception):
    """The deadline passed while a worker was still busy."""


_T = TypeVar("_T")


def _within(seconds: float, work: Callable[[], _T], name: str) -> _T:
    """Run ``work`` in a daemon thread and wait at most ``seconds`` for it.

    httpx's timeouts are per operation (each read may take the whole timeout), so an endpoint
    that drips a byte at a time could hold a call for ever; DNS resolution has no timeout at
    all. Waiting on a thread bounds all of it with one clock. On the deadline the worker is
    abandoned (it is a daemon, and its own httpx timeouts end it later); the caller closes
    its connections. Raises :class:`_Abandoned` then; ``work``'s own exception otherwise.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    worker.join(max(seconds, 0.0))
    if worker.is_alive():
        raise _Abandoned
    if "error" in box:
        raise box["error"]
    return cast(_T, box["value"])


def _proxy_settings() -> str:
    names = ("ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY")
    found = [
        f"{name}={os.environ[variant]}"
        for name in names
        for variant in (name, name.lower())
        if os.environ.get(variant)
    ]
    return redact_text(_one_line(", ".join(found))) or "a proxy variable"


def _open_client(
    auth: httpx.Auth, transport: httpx.BaseTransport | None, headers: dict[str, str]
) -> httpx.Client:
    """The HTTP client, with the environment's proxy and CA settings, or a UsageError naming
    the setting httpx cannot use."""
    try:
        return httpx.Client(
            auth=auth, transport=transport, headers=headers, follow_redirects=False, trust_env=True
        )
    except ImportError as exc:
        if "socksio" in str(exc) or "SOCKS" in str(exc):
            raise UsageError(
                f"a SOCKS proxy is configured ({_proxy_settings()}), but SOCKS support is not "
                "installed (httpx needs the socksio package)",
                hint="pip install 'httpx[socks]' (or socksio) next to the gate, or use an "
                "HTTP proxy in HTTPS_PROXY",
            ) from None
        raise UsageError(f"cannot set up the HTTP client: {_exception_text(exc)}") from None
    except ValueError as exc:
        raise UsageError(
            f"unusable proxy setting ({_proxy_settings()}): {redact_text(_exception_text(exc))}",
            hint="proxy URLs must start with http://, https://, socks5:// or socks5h://",
        ) from None
    except (OSError, ssl.SSLError) as exc:
        cafile = os.environ.get("SSL_CERT_FILE")
        cadir = os.environ.get("SSL_CERT_DIR")
        where = ", ".join(
            f"{name}={_one_line(value)}"
            for name, value in (("SSL_CERT_FILE", cafile), ("SSL_CERT_DIR", cadir))
            if value
        )
        raise UsageError(
            f"cannot load the TLS CA certificates{f' ({where})' if where else ''}: "
            f"{_exception_text(exc)}",
            hint="point SSL_CERT_FILE at a readable PEM bundle, or unset it to use the "
            "bundled certificates",
        ) from None


def _close_later(client: httpx.Client) -> None:
    """Close an abandoned client without waiting: a worker may still hold its pool."""
    threading.Thread(target=client.close, name="gate-api-close", daemon=True).start()


BodyCheck = Callable[[dict[str, Any]], "str | None"]
"""Says what is wrong with a successful answer's body (``None``: it is usable)."""


def ranking_problem(body: dict[str, Any]) -> str | None:
    """A ranking answer must carry a ``RiskRankInfo`` object (never read as an empty ranking)."""
    if isinstance(body.get("RiskRankInfo"), dict):
        return None
    if "RiskRankInfo" not in body:
        return "has no RiskRankInfo object"
    return "has a RiskRankInfo that is not an object"


@dataclass(frozen=True)
class ActionResponse:
    """One successful call of one action."""

    body: dict[str, Any]
    request_id: str | None
    attempts: int
    fetched_at: str


@dataclass(frozen=True)
class Session:
    """Where and as whom to call Security Center: resolved once, used for any action.

    Build it with :func:`open_session`; :meth:`call` makes one signed call (retries
    included) inside a deadline the caller chooses, so several calls (one per page, one per
    image) can share one overall ``--timeout``. Calls may run in several threads at once.
    """

    creds: Credentials = field(repr=False)
    region: str
    region_origin: str
    base_url: str
    warnings: tuple[str, ...] = ()
    retries: int = DEFAULT_RETRIES
    max_body_bytes: int = MAX_BODY_BYTES
    log: Callable[[str], None] | None = field(default=None, repr=False)
    transport: httpx.BaseTransport | None = field(default=None, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    random: Callable[[], float] = field(default=random_module.random, repr=False)
    now: Callable[[], dt.datetime] = field(default=_utcnow, repr=False)

    def call(
        self,
        action: str,
        query: list[tuple[str, str]],
        *,
        deadline: float,
        timeout: float,
        what: str,
        check_body: BodyCheck,
    ) -> ActionResponse:
        """Call ``action`` with ``query`` until it succeeds, fails for good, or ``deadline``
        (a ``monotonic`` time; ``timeout`` is its length, for messages) passes. ``what``
        names the data in errors ("the image risk ranking"). Raises SourceError."""
        return _call(self, action, query, deadline, timeout, what, check_body)


def open_session(
    *,
    region: str | None,
    endpoint: str | None,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT,
    credentials: Credentials | None = None,
    log: Callable[[str], None] | None = None,
    region_origin: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    random: Callable[[], float] = random_module.random,
    now: Callable[[], dt.datetime] = _utcnow,
) -> Session:
    """Validate the options, resolve the credentials (bounded by ``max(timeout, 30 s)``),
    the region and the endpoint. Raises UsageError for malformed options, SourceError when
    the credentials chain does not finish."""
    if region is not None:
        validate_region(region)
    base_url = parse_endpoint(endpoint) if endpoint is not None else None
    if retries < 0:
        raise UsageError(f"retries must be 0 or more, not {retries}")
    if not timeout > 0:
        raise UsageError(f"the timeout must be more than 0 seconds, not {timeout}")
    if max_body_bytes < 1:
        raise UsageError(f"the response size limit must be positive, not {max_body_bytes}")
    if credentials is not None:
        creds = credentials
    else:
        # The chain (a 0.5 s import, maybe an STS or metadata exchange) gets its own bound, so
        # a short --timeout is spent on the API call, not on loading the library.
        allowance = max(timeout, CREDENTIALS_TIMEOUT)
        try:
            creds = _within(allowance, lambda: resolve_credentials(log=log), "gate-credentials")
        except _Abandoned:
            raise SourceError(
                f"the Alibaba Cloud credentials chain did not finish within {allowance:g}s",
                hint="a configured source (OIDC role, credentials URI, ECS metadata) is not "
                "answering; run with --debug to see which",
            ) from None

    def say(line: str) -> None:
        if log is not None:
            log(_one_line(creds.redact(line), 4000))

    used_region, origin = resolve_region(region, region_origin, creds)
    warnings = tuple(region_warnings(used_region, origin))
    for warning in warnings:
        say(f"warning: {warning}")
    if base_url is None:
        base_url = f"https://{endpoint_for_region(used_region)}"
    say(f"region {used_region} (from {origin}), endpoint {base_url}")
    return Session(
        creds=creds,
        region=used_region,
        region_origin=origin,
        base_url=base_url,
        warnings=warnings,
        retries=retries,
        max_body_bytes=max_body_bytes,
        log=log,
        transport=transport,
        sleep=sleep,
        monotonic=monotonic,
        random=random,
        now=now,
    )


def fetch_ranking(
    *,
    region: str | None,
    endpoint: str | None,
    types: tuple[str, ...] = RANKING_TYPES,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT,
    credentials: Credentials | None = None,
    log: Callable[[str], None] | None = None,
    region_origin: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    random: Callable[[], float] = random_module.random,
    now: Callable[[], dt.datetime] = _utcnow,
) -> LiveResponse:
    """Call GetDockerhubImageRiskRankInfo and return the parsed body, or raise SourceError.

    ``region=None`` means the user gave none: the region is then the aliyun CLI profile's
    ``region_id`` when the credentials came from that profile, else ``cn-hangzhou``;
    ``region_origin`` names where a given region came from (``--region``,
    ``ALIBABA_CLOUD_REGION_ID``), for the answer's ``region_origin`` and warnings. A region
    the gate does not know is a warning in ``LiveResponse.warnings`` (and ``log``).

    ``retries`` more attempts follow a retryable failure (connection errors, timeouts, HTTP
    5xx and 429, ``Throttling*`` codes), each after the server's retry hint or a full-jitter
    backoff. ``timeout`` is one deadline for the whole API call: connecting, TLS, the status
    line, headers and body of every attempt, and the waits between them. Resolving the
    credentials comes first and is bounded separately, by ``max(timeout, 30 s)``.
    Bodies over ``max_body_bytes`` are refused. Malformed input (region, endpoint, types,
    retries, timeout) and unusable proxy or CA settings raise UsageError. ``credentials=None``
    resolves them through the default chain. ``log`` receives debug lines with secrets
    redacted. ``transport``, ``sleep``, ``monotonic``, ``random`` and ``now`` are for tests.
    """
    if region is not None:
        validate_region(region)
    if endpoint is not None:
        parse_endpoint(endpoint)
    wanted = validate_types(types)
    session = open_session(
        region=region,
        endpoint=endpoint,
        retries=retries,
        timeout=timeout,
        credentials=credentials,
        log=log,
        region_origin=region_origin,
        max_body_bytes=max_body_bytes,
        transport=transport,
        sleep=sleep,
        monotonic=monotonic,
        random=random,
        now=now,
    )
    answer = session.call(
        ACTION,
        ranking_query(wanted),
        deadline=monotonic() + timeout,
        timeout=timeout,
        what="the image risk ranking",
        check_body=ranking_problem,
    )
    return LiveResponse(
        body=answer.body,
        request_id=answer.request_id,
        region=session.region,
        endpoint=session.base_url,
        fetched_at=answer.fetched_at,
        attempts=answer.attempts,
        region_origin=session.region_origin,
        warnings=session.warnings,
    )


def _call(
    session: Session,
    action: str,
    query: list[tuple[str, str]],
    deadline: float,
    timeout: float,
    what: str,
    check_body: BodyCheck,
) -> ActionResponse:
    creds = session.creds
    monotonic = session.monotonic
    retries = session.retries
    abandoned_call = threading.Event()

    def say(line: str) -> None:
        # An abandoned worker may still be running: it must not write after the error.
        if session.log is not None and not abandoned_call.is_set():
            session.log(_one_line(creds.redact(line), 4000))

    base_url = session.base_url
    parts = urlsplit(base_url)
    host = parts.netloc
    url = f"{base_url}/?{canonical_query(query)}"
    auth = AcsV3Auth(creds, clock=session.now)
    headers = {"user-agent": USER_AGENT, "accept": "application/json"}
    failure: _Failure | None = None
    attempt = 0
    client = _open_client(auth, session.transport, headers)
    abandoned = False
    try:
        while True:
            remaining = deadline - monotonic()
            if remaining <= 0:
                raise _give_up(
                    failure, attempt, f"the {timeout:g}s deadline passed", host, creds, what
                )
            attempt += 1
            say(f"{action} attempt {attempt}/{retries + 1}: POST {url} ({remaining:.1f}s left)")
            try:
                outcome = _within(
                    remaining,
                    functools.partial(
                        _attempt,
                        client,
                        url,
                        action,
                        remaining,
                        deadline,
                        monotonic,
                        session.now,
                        host,
                        say,
                        parts.scheme,
                        session.max_body_bytes,
                        check_body,
                    ),
                    "gate-api-call",
                )
            except _Abandoned:
                abandoned = True
                abandoned_call.set()
                stalled = (
                    f"{host} did not answer in time: the {timeout:g}s deadline passed "
                    "before the answer was complete"
                )
                raise _give_up(
                    _Failure(
                        stalled,
                        False,
                        "the endpoint is too slow or stalled; raise --timeout "
                        "or check the network path (proxy, firewall)",
                    ),
                    attempt,
                    None,
                    host,
                    creds,
                    what,
                ) from None
            if isinstance(outcome, _Success):
                return ActionResponse(
                    body=outcome.body,
                    request_id=outcome.request_id,
                    attempts=attempt,
                    fetched_at=format_date(session.now()),
                )
            failure = outcome
            if not failure.retryable:
                raise _give_up(failure, attempt, None, host, creds, what)
            if attempt > retries:
                raise _give_up(failure, attempt, f"{retries} retries exhausted", host, creds, what)
            delay = failure.retry_after
            if delay is None:
                delay = session.random() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
            left = deadline - monotonic()
            if delay >= left:
                why = (
                    f"the {timeout:g}s deadline was reached"
                    if left <= 0
                    else f"waiting {delay:.2f}s more would pass the {timeout:g}s deadline"
                )
                raise _give_up(failure, attempt, why, host, creds, what)
            codes = ", ".join(str(x) for x in (failure.code, failure.status) if x is not None)
            say(
                f"retrying in {delay:.2f}s after{f' ({codes})' if codes else ''}: {failure.message}"
            )
            session.sleep(delay)
    finally:
        if abandoned:
            _close_later(client)
        else:
            client.close()


def _attempt(
    client: httpx.Client,
    url: str,
    action: str,
    remaining: float,
    deadline: float,
    monotonic: Callable[[], float],
    now: Callable[[], dt.datetime],
    host: str,
    say: Callable[[str], None],
    scheme: str,
    max_body_bytes: int,
    check_body: BodyCheck,
) -> _Failure | _Success:
    request = client.build_request(
        "POST",
        url,
        headers={"x-acs-action": action, "x-acs-version": VERSION},
        timeout=httpx.Timeout(remaining),
    )
    started = monotonic()
    try:
        response = client.send(request, stream=True)
    except httpx.HTTPError as exc:
        say(f"request headers: {redact_headers(request.headers.multi_items())}")
        return _transport_failure(exc, host, scheme)
    try:
        say(f"request headers: {redact_headers(response.request.headers.multi_items())}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_body_bytes:
                return _Failure(
                    f"the response body is larger than {_size(max_body_bytes)}",
                    False,
                    "is --endpoint a Security Center endpoint? If this account's ranking is "
                    f"really that large, raise the limit with {MAX_BODY_OPTION}",
                    status=response.status_code,
                    request_id=_api_field(response.headers.get("x-acs-request-id")),
                )
            if monotonic() > deadline:
                return _Failure(f"{host} was still sending the response at the deadline", False)
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        return _transport_failure(exc, host, scheme)
    finally:
        response.close()
    body = b"".join(chunks)
    say(
        f"response: HTTP {response.status_code}, {size} bytes in "
        f"{monotonic() - started:.2f}s; headers: {redact_headers(response.headers.multi_items())}"
    )
    status = response.status_code
    if 300 <= status < 400:
        return _redirect_failure(response)
    if status >= 400:
        return _error_failure(response, body, now(), action)
    return _body_failure(response, body, check_body)


def _size(limit: int) -> str:
    mib = 1024 * 1024
    return f"{limit // mib} MiB" if limit % mib == 0 else f"{limit} bytes"


def _give_up(
    failure: _Failure | None,
    attempts: int,
    why: str | None,
    host: str,
    creds: Credentials,
    what: str = "the image risk ranking",
) -> SourceError:
    prefix = f"cannot fetch {what} from {host}"
    if failure is None:
        return SourceError(f"{prefix}: {why or 'no attempt was made'}")
    notes = [f"{attempts} attempts"] if attempts > 1 else []
    if why:
        notes.append(why)
    suffix = f" [{'; '.join(notes)}]" if notes else ""
    return SourceError(
        creds.redact(f"{prefix}: {failure.message}{suffix}"),
        hint=failure.hint,
        code=failure.code,
        status=failure.status,
        request_id=failure.request_id,
        recommend=failure.recommend,
    )
