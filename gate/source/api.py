"""The live Security Center client for ``GetDockerhubImageRiskRankInfo``.

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
import email.utils
import json
import random as random_module
import re
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from gate import __version__
from gate.errors import SourceError, UsageError
from gate.source.credentials import REDACTED, Credentials, resolve_credentials
from gate.source.signer import AcsV3Auth, canonical_query, format_date

ACTION = "GetDockerhubImageRiskRankInfo"
VERSION = "2018-12-03"
RANKING_TYPES = ("vulAsap", "baseline")
DEFAULT_RETRIES = 3
DEFAULT_TIMEOUT = 60.0

# The official SDK's endpoint map for Sas 2018-12-03 sends every cn-* region (Hong Kong too)
# to Shanghai and every other region to Singapore; the prefix rule reproduces it exactly and
# also covers regions added after the map was generated.
MAINLAND_ENDPOINT = "tds.cn-shanghai.aliyuncs.com"
INTERNATIONAL_ENDPOINT = "tds.ap-southeast-1.aliyuncs.com"

# A ranking is a few hundred KiB at most; anything this large is a broken proxy or a hostile
# endpoint, and reading it unbounded would let it exhaust memory.
MAX_BODY_BYTES = 32 * 1024 * 1024

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


def validate_region(region: str) -> str:
    """Return the region id, or raise :class:`UsageError` when it is not shaped like one."""
    if not _REGION_RE.match(region) or len(region) > 64:
        raise UsageError(
            f"invalid region {region!r}",
            hint="region ids look like cn-hangzhou or ap-southeast-1 (lower case)",
        )
    return region


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
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", errors="replace")
    return _one_line("".join(ch if ch.isprintable() else " " for ch in text), 120) or "(empty)"


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


def _api_hint(code: str, status: int, sent_date: str | None) -> str | None:
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
        return RAM_HINT
    if code.startswith("InvalidAction") or code == "InvalidVersion":
        return "the endpoint does not serve Security Center API 2018-12-03: check --endpoint"
    if status >= 500:
        return "Security Center had a server-side failure; try again later"
    return None


def _error_failure(response: httpx.Response, body: bytes, now: dt.datetime) -> _Failure:
    status = response.status_code
    envelope: dict[str, Any] = {}
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            envelope = parsed
    except ValueError:
        pass
    code = str(envelope.get("Code") or "")
    message = envelope.get("Message")
    text = _one_line(str(message)) if message else f"HTTP {status}, body: {_excerpt(body)}"
    request_id = envelope.get("RequestId") or response.headers.get("x-acs-request-id")
    recommend = envelope.get("Recommend")
    retryable = status >= 500 or status == 429 or code.startswith("Throttling")
    verb = "failed" if status >= 500 else "refused the request"
    return _Failure(
        message=f"Security Center {verb}: {text}",
        retryable=retryable,
        hint=_api_hint(code, status, response.request.headers.get("x-acs-date")),
        code=code or None,
        status=status,
        request_id=str(request_id) if request_id else None,
        recommend=str(recommend) if recommend else None,
        retry_after=retry_after_seconds(response.headers, now) if retryable else None,
    )


def _redirect_failure(response: httpx.Response) -> _Failure:
    location = response.headers.get("location", "(no Location header)")
    return _Failure(
        message=f"the endpoint redirected to {location}; redirects are not followed, so the "
        "signed request and any token stay with the endpoint you chose",
        retryable=False,
        status=response.status_code,
        hint="if that address is the genuine Security Center endpoint, pass it as --endpoint",
    )


def _body_failure(response: httpx.Response, body: bytes) -> _Failure | _Success:
    request_id = response.headers.get("x-acs-request-id")
    try:
        parsed = json.loads(body)
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
    request_id = str(parsed.get("RequestId") or request_id or "") or None
    if not isinstance(parsed.get("RiskRankInfo"), dict):
        code = parsed.get("Code")
        what = (
            "has no RiskRankInfo object"
            if "RiskRankInfo" not in parsed
            else "has a RiskRankInfo that is not an object"
        )
        detail = f": {_one_line(str(parsed.get('Message') or ''))}" if code else ""
        return _Failure(
            message=f"the response {what}{detail}",
            retryable=False,
            code=str(code) if code else None,
            status=response.status_code,
            request_id=request_id,
            hint="the gate never treats a malformed answer as an empty ranking",
        )
    return _Success(body=parsed, request_id=request_id)


def _transport_failure(exc: httpx.HTTPError, host: str) -> _Failure:
    reach = (
        f"check that {host} is reachable from here (DNS, firewall, HTTPS_PROXY/NO_PROXY), "
        "or choose another endpoint with --endpoint"
    )
    if isinstance(exc, httpx.TimeoutException):
        return _Failure(f"{host} did not answer in time ({type(exc).__name__})", True, reach)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return _Failure(f"cannot send the request to {host}: {exc}", False)
    if isinstance(exc, httpx.ConnectError) and _certificate_problem(exc):
        return _Failure(
            f"the TLS certificate of {host} could not be verified: {exc}",
            False,
            "if a proxy intercepts TLS, point SSL_CERT_FILE at its CA bundle",
        )
    if isinstance(exc, httpx.ConnectError):
        return _Failure(f"cannot connect to {host}: {exc}", True, reach)
    if isinstance(exc, httpx.TransportError):
        return _Failure(f"the connection to {host} failed: {type(exc).__name__}: {exc}", True)
    return _Failure(f"cannot read the response from {host}: {type(exc).__name__}: {exc}", False)


def _certificate_problem(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def fetch_ranking(
    *,
    region: str,
    endpoint: str | None,
    types: tuple[str, ...] = RANKING_TYPES,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT,
    credentials: Credentials | None = None,
    log: Callable[[str], None] | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    random: Callable[[], float] = random_module.random,
    now: Callable[[], dt.datetime] = _utcnow,
) -> LiveResponse:
    """Call GetDockerhubImageRiskRankInfo and return the parsed body, or raise SourceError.

    ``retries`` more attempts follow a retryable failure (connection errors, timeouts, HTTP
    5xx and 429, ``Throttling*`` codes), each after the server's retry hint or a full-jitter
    backoff, and none of it runs past ``timeout`` seconds from the call. Malformed input
    (region, endpoint, types, retries, timeout) raises UsageError before any network or
    credentials work. ``credentials=None`` resolves them through the default chain. ``log``
    receives debug lines with the secret, the token and the Authorization value redacted.
    ``transport``, ``sleep``, ``monotonic``, ``random`` and ``now`` are for tests.
    """
    validate_region(region)
    base_url = resolve_endpoint(region, endpoint)
    wanted = validate_types(types)
    if retries < 0:
        raise UsageError(f"retries must be 0 or more, not {retries}")
    if not timeout > 0:
        raise UsageError(f"the timeout must be more than 0 seconds, not {timeout}")
    deadline = monotonic() + timeout

    creds = credentials if credentials is not None else resolve_credentials(log=log)

    def say(line: str) -> None:
        if log is not None:
            log(creds.redact(line))

    host = urlsplit(base_url).netloc
    url = f"{base_url}/?{canonical_query(ranking_query(wanted))}"
    auth = AcsV3Auth(creds, clock=now)
    headers = {"user-agent": USER_AGENT, "accept": "application/json"}
    failure: _Failure | None = None
    attempt = 0
    with httpx.Client(
        auth=auth, transport=transport, headers=headers, follow_redirects=False, trust_env=True
    ) as client:
        while True:
            remaining = deadline - monotonic()
            if remaining <= 0:
                raise _give_up(failure, attempt, f"the {timeout:g}s deadline passed", host, creds)
            attempt += 1
            say(f"{ACTION} attempt {attempt}/{retries + 1}: POST {url} ({remaining:.1f}s left)")
            outcome = _attempt(client, url, remaining, deadline, monotonic, now, host, say)
            if isinstance(outcome, _Success):
                return LiveResponse(
                    body=outcome.body,
                    request_id=outcome.request_id,
                    region=region,
                    endpoint=base_url,
                    fetched_at=format_date(now()),
                    attempts=attempt,
                )
            failure = outcome
            if not failure.retryable:
                raise _give_up(failure, attempt, None, host, creds)
            if attempt > retries:
                raise _give_up(failure, attempt, f"{retries} retries exhausted", host, creds)
            delay = failure.retry_after
            if delay is None:
                delay = random() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
            left = deadline - monotonic()
            if delay >= left:
                why = (
                    f"the {timeout:g}s deadline was reached"
                    if left <= 0
                    else f"waiting {delay:.2f}s more would pass the {timeout:g}s deadline"
                )
                raise _give_up(failure, attempt, why, host, creds)
            what = ", ".join(str(x) for x in (failure.code, failure.status) if x is not None)
            say(f"retrying in {delay:.2f}s after{f' ({what})' if what else ''}: {failure.message}")
            sleep(delay)


def _attempt(
    client: httpx.Client,
    url: str,
    remaining: float,
    deadline: float,
    monotonic: Callable[[], float],
    now: Callable[[], dt.datetime],
    host: str,
    say: Callable[[str], None],
) -> _Failure | _Success:
    request = client.build_request(
        "POST",
        url,
        headers={"x-acs-action": ACTION, "x-acs-version": VERSION},
        timeout=httpx.Timeout(remaining),
    )
    started = monotonic()
    try:
        response = client.send(request, stream=True)
    except httpx.HTTPError as exc:
        say(f"request headers: {redact_headers(request.headers.multi_items())}")
        return _transport_failure(exc, host)
    try:
        say(f"request headers: {redact_headers(response.request.headers.multi_items())}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return _Failure(
                    f"the response body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB",
                    False,
                    "is --endpoint a Security Center endpoint?",
                    status=response.status_code,
                    request_id=response.headers.get("x-acs-request-id"),
                )
            if monotonic() > deadline:
                return _Failure(f"{host} was still sending the response at the deadline", False)
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        return _transport_failure(exc, host)
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
        return _error_failure(response, body, now())
    return _body_failure(response, body)


def _give_up(
    failure: _Failure | None, attempts: int, why: str | None, host: str, creds: Credentials
) -> SourceError:
    prefix = f"cannot fetch the image risk ranking from {host}"
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
