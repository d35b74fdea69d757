"""A local stand-in for the Security Center endpoint: ``python -m gate.emulator``.

Owns one small HTTP server that speaks ``GetDockerhubImageRiskRankInfo`` and
``DescribeImageVulList`` (vulnerability records filtered by namespace, repository, tag,
digest and fix priority, paged with ``CurrentPage``/``PageSize``; served from a JSON file of
records or the bundled ``demo-vulns.json``) and ``DescribeImageInstances`` (image list entries
filtered by a ``Criteria`` JSON list; the bundled ``demo-images.json`` by default) the way the
service does, so end-to-end tests,
CI integration tests and pipeline dry runs run offline. It serves a
saved response (a raw API body or a ``gate fetch`` snapshot; the bundled demo response by
default) with a fresh RequestId each time, and checks every request as the service would: the
V3 signature (with the signer's own functions), the date within 15 minutes, no nonce reused, the
action and version headers, a configured access key and its STS token. Rejections use the
service's error envelope (RequestId, HostId, Code, Message, Recommend).

Faults are injected on request, in this order: the first ``reset_first`` connections are reset,
the next ``fail_first`` requests fail with a chosen status and code, the next
``throttle_first`` are throttled (``Throttling.User``, optionally with ``x-acs-retry-after``);
``delay`` slows every response; ``body`` spoils the first ``body_first`` successful answers
(every one when 0): ``truncated``, ``non-json``, ``no-ranking``, ``empty`` or ``huge``.
With ``action`` set, faults hit only requests for that action (and count only those).

Without ``--access-key`` it accepts only the documented test key pair ``gate-test-id`` /
``gate-test-secret``. It binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import signal
import socket
import struct
import sys
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import FrameType
from typing import Any, cast
from urllib.parse import unquote_plus

import click

from gate.errors import GateError
from gate.source import images, scans, vulns
from gate.source.api import ACTION, VERSION
from gate.source.signer import (
    DATE_FORMAT,
    lower_headers,
    parse_authorization,
    sign,
)
from gate.source.snapshot import parse_snapshot

MAX_SKEW = dt.timedelta(minutes=15)
MAX_REQUEST_BODY = 1024 * 1024
BODY_FAULTS = ("truncated", "non-json", "no-ranking", "empty", "huge")
TYPE_KEYS = {"vulAsap": "VulAsap", "baseline": "Baseline"}
ACTIONS = (ACTION, vulns.ACTION, images.ACTION, scans.CREATE, scans.STATUS)
SCAN_RESULTS = ("SUCCESS", "FAIL", "TIMOUT", "STUCK")
MAX_PAGE_SIZE = 100

# Messages the service uses for these codes (where known); injected codes fall back to a
# generic text.
MESSAGES = {
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
    "InternalError": "The request processing has failed due to some unknown error.",
    "ServerError": "ServerError",
    "NoPermission": "caller has no permission",
    "Forbidden.RAM": "User not authorized to operate on the specified resource.",
    "Throttling.User": "Request was denied due to user flow control.",
    "InvalidAction.NotFound": "Specified api is not found, please check your url and method.",
    "InvalidVersion": "Specified parameter Version is not valid.",
    "IncompleteSignature": "The request signature does not conform to Aliyun standards.",
    "InvalidAccessKeyId.NotFound": "Specified access key is not found.",
    "SignatureDoesNotMatch": "Specified signature is not matched with our calculation.",
    "InvalidTimeStamp.Format": "Specified time stamp or date value is not well formatted.",
    "InvalidTimeStamp.Expired": "Specified time stamp or date value is expired.",
    "MissingSignatureNonce": "SignatureNonce is mandatory for this action.",
    "SignatureNonceUsed": "Specified signature nonce was used already.",
    "MissingSecurityToken": "SecurityToken is mandatory for this action.",
    "InvalidSecurityToken.Mismatch": "Specified SecurityToken mismatch with the AccessKey.",
    "InvalidParameter": "The specified parameter is not valid.",
}


@dataclass(frozen=True)
class AccessKey:
    """A key the emulator accepts; with ``security_token`` it behaves as an STS key."""

    id: str
    secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


DEFAULT_KEY = AccessKey("gate-test-id", "gate-test-secret")


@dataclass(frozen=True)
class Faults:
    """What to break, and for how many requests (see the module docstring for the order)."""

    reset_first: int = 0
    fail_first: int = 0
    fail_status: int = 503
    fail_code: str = "ServiceUnavailable"
    throttle_first: int = 0
    retry_after_ms: int | None = None
    delay: float = 0.0
    body: str | None = None
    body_first: int = 0
    huge_size: int = 100_000_000
    action: str | None = None
    """Only requests for this action are faulted (and counted for the fault phases)."""

    def __post_init__(self) -> None:
        if self.body is not None and self.body not in BODY_FAULTS:
            raise ValueError(f"unknown body fault {self.body!r}; choose from {BODY_FAULTS}")


@dataclass(frozen=True)
class ApiError:
    """One rejection, answered with the service's JSON error envelope."""

    status: int
    code: str
    message: str = ""

    @property
    def text(self) -> str:
        return self.message or MESSAGES.get(self.code, f"Injected failure {self.code}.")


@dataclass(frozen=True)
class Received:
    """What the emulator saw and answered, for tests and the request log."""

    number: int
    method: str
    path: str
    headers: Mapping[str, str] = field(repr=False)
    status: int
    code: str | None


def load_response(path: str | None) -> dict[str, Any]:
    """The body to serve: ``path`` (raw API body or gate snapshot) or the bundled demo."""
    if path is None:
        data = resources.files("gate.data").joinpath("demo-response.json").read_bytes()
        return parse_snapshot(data, "demo-response.json (bundled)").body
    with open(path, "rb") as handle:
        return parse_snapshot(handle.read(), path).body


def parse_form_query(raw: str) -> list[tuple[str, str]]:
    """Decode a request's query the way the service does: ``+`` is a space (the official
    SDK writes spaces that way in the URL) and ``%2B`` a plus. The signature is then
    checked over the canonical form of the decoded pairs, where a space is ``%20``, which is
    what every client signs whichever way it wrote the URL."""
    pairs = []
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


class Emulator:
    """The server, runnable in a thread: ``with Emulator(...) as emu: fetch(emu.url)``."""

    def __init__(
        self,
        response: Mapping[str, Any] | None = None,
        *,
        keys: Sequence[AccessKey] = (DEFAULT_KEY,),
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Callable[[str], None] | None = None,
        vul_records: Sequence[Mapping[str, Any]] | None = None,
        image_instances: Sequence[Mapping[str, Any]] | None = None,
        scan_polls: int = 1,
        scan_result: str = "SUCCESS",
    ) -> None:
        if not keys:
            raise ValueError("the emulator needs at least one access key")
        self.response: Mapping[str, Any] = response if response is not None else load_response(None)
        self.keys = {key.id: key for key in keys}
        self.vul_records: tuple[Mapping[str, Any], ...] = tuple(
            vul_records if vul_records is not None else vulns.load_records_file(vulns.DEMO_VULNS)
        )
        self.image_instances: tuple[Mapping[str, Any], ...] = tuple(
            image_instances
            if image_instances is not None
            else images.load_images_file(images.DEMO_IMAGES)
        )
        self._action_counts: dict[str, int] = {}
        if scan_result not in SCAN_RESULTS:
            raise ValueError(f"unknown scan result {scan_result!r}; choose from {SCAN_RESULTS}")
        self.scan_polls = scan_polls
        self.scan_result = scan_result
        self.scan_tasks: dict[str, dict[str, Any]] = {}
        """Digest -> the latest scan task (``TaskId``, ``Status``, polls left)."""
        self.faults = faults or Faults()
        self._address = (host, port)
        self._log = log
        self._lock = threading.Lock()
        self._count = 0
        self._served = 0
        self._nonces: dict[str, dt.datetime] = {}
        self._received: list[Received] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> str:
        """Bind, serve in a daemon thread and return the base URL."""
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="gate-emulator",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving; slow (delayed) responses are abandoned, not waited for."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}"

    @property
    def received(self) -> tuple[Received, ...]:
        with self._lock:
            return tuple(self._received)

    # --- one request --------------------------------------------------------------------

    def handle(self, handler: _Handler) -> None:
        """Decide the answer, record it, then write it (so a client never sees an answer
        before :attr:`received` knows about it)."""
        with self._lock:
            self._count += 1
            number = self._count
        headers = lower_headers(handler.headers.items())
        action = self.faults.action
        if action is not None:
            with self._lock:
                if headers.get("x-acs-action") == action:
                    self._action_counts[action] = self._action_counts.get(action, 0) + 1
                    number_for_faults = self._action_counts[action]
                else:
                    number_for_faults = 0  # never faulted
        else:
            number_for_faults = number
        reply = self._decide(handler, number_for_faults, headers)
        with self._lock:
            self._received.append(
                Received(number, handler.command, handler.path, headers, reply.status, reply.code)
            )
        if self._log is not None:
            outcome = "connection reset" if reply.status == 0 else str(reply.status)
            code = f" {reply.code}" if reply.code else ""
            self._log(f"#{number} {handler.command} {handler.path} -> {outcome}{code}")
        try:
            _write(handler, reply, self._stopping)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    def _decide(self, handler: _Handler, number: int, headers: Mapping[str, str]) -> _Reply:
        """``number`` counts the requests faults apply to (0: this one is never faulted)."""
        faults = self.faults
        if number == 0:
            faults, number = Faults(), sys.maxsize
        if number <= faults.reset_first:
            return _Reply(0, None)
        if faults.delay:
            self._stopping.wait(faults.delay)
        body = _read_body(handler, headers)
        if body is None:
            return _error(headers, ApiError(400, "InvalidParameter"))
        phase = number - faults.reset_first
        if phase <= faults.fail_first:
            return _error(headers, ApiError(faults.fail_status, faults.fail_code))
        phase -= faults.fail_first
        if phase <= faults.throttle_first:
            extra = {}
            if faults.retry_after_ms is not None:
                extra["x-acs-retry-after"] = str(faults.retry_after_ms)
            return _error(headers, ApiError(400, "Throttling.User"), extra)
        path, _, raw_query = handler.path.partition("?")
        query = parse_form_query(raw_query)
        rejection = self.verify(handler.command, path, query, headers, body)
        if rejection is not None:
            return _error(headers, rejection)
        if headers.get("x-acs-action") == vulns.ACTION:
            return self._serve_vul_list(query, headers, faults)
        if headers.get("x-acs-action") == images.ACTION:
            return self._serve_instances(query, headers, faults)
        if headers.get("x-acs-action") == scans.CREATE:
            return self._create_scan(dict(query), headers)
        if headers.get("x-acs-action") == scans.STATUS:
            return self._scan_status(dict(query), headers)
        types = [value for name, value in query if name.startswith("Types.")]
        unknown = [t for t in types if t not in TYPE_KEYS]
        if unknown:
            message = f"Specified parameter Types is not valid: {', '.join(unknown)}."
            return _error(headers, ApiError(400, "InvalidParameter", message))
        return self._serve(types, faults)

    def verify(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> ApiError | None:
        """Check one request as the service would; ``None`` when it is acceptable."""
        if path != "/" or headers.get("x-acs-action") not in ACTIONS:
            return ApiError(404, "InvalidAction.NotFound")
        if headers.get("x-acs-version") != VERSION:
            return ApiError(400, "InvalidVersion")
        parsed = parse_authorization(headers.get("authorization", ""))
        if parsed is None:
            return ApiError(400, "IncompleteSignature")
        key = self.keys.get(parsed.access_key_id)
        if key is None:
            return ApiError(404, "InvalidAccessKeyId.NotFound")
        token = headers.get("x-acs-security-token")
        if key.security_token is not None and token is None:
            return ApiError(400, "MissingSecurityToken")
        if token is not None and not hmac.compare_digest(token, key.security_token or ""):
            return ApiError(400, "InvalidSecurityToken.Mismatch")
        must_sign = {"host"} | {n for n in headers if n.startswith("x-acs-") or n == "content-type"}
        unsigned = sorted(must_sign - set(parsed.signed_headers))
        if unsigned:
            message = f"Header(s) {', '.join(unsigned)} must be signed."
            return ApiError(400, "IncompleteSignature", message)
        if headers.get("x-acs-content-sha256") != hashlib.sha256(body).hexdigest():
            message = "x-acs-content-sha256 does not match the request body."
            return ApiError(400, "SignatureDoesNotMatch", message)
        expected = sign(
            method=method,
            path=path,
            query=query,
            headers=headers,
            access_key_id=key.id,
            access_key_secret=key.secret,
            signed=list(parsed.signed_headers),
        )
        if not hmac.compare_digest(expected.signature, parsed.signature):
            return ApiError(400, "SignatureDoesNotMatch")
        try:
            sent = dt.datetime.strptime(headers.get("x-acs-date", ""), DATE_FORMAT)
        except ValueError:
            return ApiError(400, "InvalidTimeStamp.Format")
        now = dt.datetime.now(dt.timezone.utc)
        if abs(now - sent.replace(tzinfo=dt.timezone.utc)) > MAX_SKEW:
            return ApiError(400, "InvalidTimeStamp.Expired")
        nonce = headers.get("x-acs-signature-nonce", "")
        if not nonce:
            return ApiError(400, "MissingSignatureNonce")
        with self._lock:
            # A nonce older than twice the skew window can no longer pass the date check.
            for old in [n for n, seen in self._nonces.items() if now - seen > 2 * MAX_SKEW]:
                del self._nonces[old]
            if nonce in self._nonces:
                return ApiError(400, "SignatureNonceUsed")
            self._nonces[nonce] = now
        return None

    def _spoil(self, faults: Faults) -> str | None:
        """The body fault for this successful answer, if any."""
        with self._lock:
            self._served += 1
            served = self._served
        fault = faults.body
        if fault is not None and (faults.body_first == 0 or served <= faults.body_first):
            return fault
        return None

    def _serve_vul_list(
        self, query: list[tuple[str, str]], headers: Mapping[str, str], faults: Faults
    ) -> _Reply:
        """DescribeImageVulList: ``Type=cve`` required; filters and paging as the service."""
        params = dict(query)
        kind = params.get("Type")
        if kind is None:
            return _error(
                headers, ApiError(400, "MissingType", "Type is mandatory for this action.")
            )
        if kind != "cve":
            message = f"Specified parameter Type is not valid: {kind}."
            return _error(headers, ApiError(400, "InvalidParameter", message))
        try:
            page = int(params.get("CurrentPage", "1"))
            size = int(params.get("PageSize", "10"))
        except ValueError:
            return _error(headers, ApiError(400, "InvalidParameter"))
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            message = f"CurrentPage must be 1 or more and PageSize 1 to {MAX_PAGE_SIZE}."
            return _error(headers, ApiError(400, "InvalidParameter", message))
        request_id = new_request_id()
        fault = self._spoil(faults)
        if fault is not None:
            return self._spoiled(fault, request_id, records=True)
        found = [dict(r) for r in self.vul_records if vulns.matches(r, query)]
        body = {
            "RequestId": request_id,
            "CurrentPage": page,
            "PageSize": size,
            "TotalCount": len(found),
            "VulRecords": found[(page - 1) * size : page * size],
        }
        return _Reply(200, None, request_id, _json(body))

    def _serve_instances(
        self, query: list[tuple[str, str]], headers: Mapping[str, str], faults: Faults
    ) -> _Reply:
        """DescribeImageInstances: ``Criteria`` (a JSON list of name/value conditions) joined
        by ``LogicalExp`` (AND, or OR), paged with ``CurrentPage``/``PageSize``."""
        params = dict(query)
        try:
            conditions = json.loads(params.get("Criteria", "[]"))
            page = int(params.get("CurrentPage", "1"))
            size = int(params.get("PageSize", "20"))
        except ValueError:
            return _error(headers, ApiError(400, "InvalidParameter"))
        if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
            message = "Specified parameter Criteria is not valid."
            return _error(headers, ApiError(400, "InvalidParameter", message))
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            message = f"CurrentPage must be 1 or more and PageSize 1 to {MAX_PAGE_SIZE}."
            return _error(headers, ApiError(400, "InvalidParameter", message))
        request_id = new_request_id()
        fault = self._spoil(faults)
        if fault is not None:
            return self._spoiled(fault, request_id, records=True)
        if params.get("LogicalExp", "AND").upper() == "OR" and conditions:
            found = [
                dict(i)
                for i in self.image_instances
                if any(images.criteria_matches(i, [c]) for c in conditions)
            ]
        else:
            found = [
                dict(i) for i in self.image_instances if images.criteria_matches(i, conditions)
            ]
        listed = found[(page - 1) * size : page * size]
        body = {
            "RequestId": request_id,
            "PageInfo": {
                "CurrentPage": page,
                "PageSize": size,
                "TotalCount": len(found),
                "Count": len(listed),
            },
            "ImageInstanceList": listed,
        }
        return _Reply(200, None, request_id, _json(body))

    def _create_scan(self, params: Mapping[str, str], headers: Mapping[str, str]) -> _Reply:
        """PublicCreateImageScanTask for listed images (comma-separated ``Digests``)."""
        digests = [d for d in params.get("Digests", "").split(",") if d]
        if not digests:
            return _error(headers, ApiError(400, "InvalidParameter", "Digests is mandatory."))
        known = {str(i.get("Digest")) for i in self.image_instances}
        unknown = [d for d in digests if d not in known]
        if unknown:
            message = f"Specified image is not found: {', '.join(unknown)}."
            return _error(headers, ApiError(400, "InvalidParameter", message))
        request_id = new_request_id()
        task_id = uuid.uuid4().hex
        now_ms = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
        with self._lock:
            for digest in digests:
                self.scan_tasks[digest] = {
                    "TaskId": task_id,
                    "Status": "INIT",
                    "polls": self.scan_polls,
                }
        data = {
            "TaskId": task_id,
            "Status": "INIT",
            "Progress": 0,
            "Result": "",
            "TotalCount": len(digests),
            "FinishCount": 0,
            "CanCreate": True,
            "CollectTime": now_ms,
            "ExecTime": now_ms,
        }
        return _Reply(200, None, request_id, _json({"RequestId": request_id, "Data": data}))

    def _scan_status(self, params: Mapping[str, str], headers: Mapping[str, str]) -> _Reply:
        """DescribeImageLatestScanTask: the image's latest task; each poll advances it, and a
        successful scan marks the image list entry scanned."""
        digest = params.get("Digest")
        if not digest:
            return _error(
                headers, ApiError(400, "MissingDigest", "Digest is mandatory for this action.")
            )
        request_id = new_request_id()
        with self._lock:
            task = self.scan_tasks.get(digest)
            if task is not None and task["Status"] not in ("SUCCESS", "FAIL", "TIMOUT"):
                if task["polls"] > 0:
                    task["polls"] -= 1
                    task["Status"] = "PROCESSING"
                elif self.scan_result != "STUCK":
                    task["Status"] = self.scan_result
                    if self.scan_result == "SUCCESS":
                        self._mark_scanned(digest)
            tasks = [] if task is None else [_task(task, digest)]
        return _Reply(200, None, request_id, _json({"RequestId": request_id, "Task": tasks}))

    def _mark_scanned(self, digest: str) -> None:
        now_ms = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
        self.image_instances = tuple(
            {**i, "ScaStatus": "SUCCESS", "ScaProgress": 100, "LastScanTime": now_ms}
            if str(i.get("Digest")) == digest
            else i
            for i in self.image_instances
        )

    def _serve(self, types: list[str], faults: Faults) -> _Reply:
        request_id = new_request_id()
        fault = self._spoil(faults)
        if fault is not None:
            return self._spoiled(fault, request_id)
        body = dict(self.response)
        body["RequestId"] = request_id
        ranking = body.get("RiskRankInfo")
        if types and isinstance(ranking, dict):
            dropped = {key for name, key in TYPE_KEYS.items() if name not in types}
            body["RiskRankInfo"] = {k: v for k, v in ranking.items() if k not in dropped}
        return _Reply(200, None, request_id, _json(body))

    def _spoiled(self, fault: str, request_id: str, *, records: bool = False) -> _Reply:
        code = f"fault:{fault}"
        if fault == "truncated":
            whole = {"VulRecords": list(self.vul_records)} if records else self.response
            data = _json({**whole, "RequestId": request_id})
            return _Reply(200, code, request_id, data[: len(data) // 2], length=len(data))
        if fault == "non-json":
            page = b"<!DOCTYPE html><html><body><h1>Welcome to the guest network</h1></body></html>"
            return _Reply(200, code, request_id, page, content_type="text/html; charset=utf-8")
        if fault == "no-ranking":
            return _Reply(200, code, request_id, _json({"RequestId": request_id}))
        if fault == "empty" and records:
            body = _json({"RequestId": request_id, "TotalCount": 0, "VulRecords": []})
            return _Reply(200, code, request_id, body)
        if fault == "empty":
            ranking: dict[str, list[Any]] = {"VulAsap": [], "Baseline": []}
            body = _json({"RequestId": request_id, "RiskRankInfo": ranking})
            return _Reply(200, code, request_id, body)
        return _Reply(200, code, request_id, huge=self.faults.huge_size)


@dataclass(frozen=True)
class _Reply:
    """One answer, decided before any byte is written. Status 0 resets the connection."""

    status: int
    code: str | None
    request_id: str = ""
    body: bytes = b""
    content_type: str = "application/json;charset=utf-8"
    length: int | None = None
    """The Content-Length to announce when it differs from the body (a truncated answer)."""
    extra: Mapping[str, str] = field(default_factory=dict)
    huge: int | None = None
    """Stream a valid ranking of this many bytes instead of ``body``."""


def _task(task: Mapping[str, Any], digest: str) -> dict[str, Any]:
    return {
        "TaskId": task["TaskId"],
        "Status": task["Status"],
        "Target": digest,
        "TargetType": "IMAGE",
        "TaskType": "IMAGE_SCAN",
        "Source": "openapi",
        "FinishCount": 1 if task["Status"] == "SUCCESS" else 0,
    }


def _error(
    headers: Mapping[str, str], error: ApiError, extra: Mapping[str, str] | None = None
) -> _Reply:
    request_id = new_request_id()
    envelope = {
        "RequestId": request_id,
        "HostId": headers.get("host", "tds.aliyuncs.com"),
        "Code": error.code,
        "Message": error.text,
        "Recommend": "https://api.aliyun.com/troubleshoot"
        f"?q={error.code}&product=Sas&requestId={request_id}",
    }
    return _Reply(error.status, error.code, request_id, _json(envelope), extra=extra or {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal here (timeouts, size limits).
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gate-emulator"

    def do_POST(self) -> None:
        cast(_Server, self.server).emulator.handle(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """The emulator logs each request itself, without headers."""


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _read_body(handler: _Handler, headers: Mapping[str, str]) -> bytes | None:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        handler.close_connection = True
        return None
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        length = -1
    if not 0 <= length <= MAX_REQUEST_BODY:
        handler.close_connection = True
        return None
    return handler.rfile.read(length) if length else b""


def _write(handler: _Handler, reply: _Reply, stop: threading.Event) -> None:
    if reply.status == 0:
        # Abort with a TCP RST instead of an answer.
        linger = struct.pack("ii", 1, 0)
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        handler.close_connection = True
        handler.connection.close()
        return
    if reply.huge is not None:
        _write_huge(handler, reply.request_id, reply.huge, stop)
        return
    _head(handler, reply.status, reply.request_id, reply.length or len(reply.body), reply)
    handler.wfile.write(reply.body)
    handler.wfile.flush()
    if reply.length is not None and reply.length != len(reply.body):
        handler.close_connection = True


def _head(handler: _Handler, status: int, request_id: str, length: int, reply: _Reply) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", reply.content_type)
    handler.send_header("Content-Length", str(length))
    handler.send_header("x-acs-request-id", request_id)
    for name, value in reply.extra.items():
        handler.send_header(name, value)
    handler.end_headers()


def _write_huge(handler: _Handler, request_id: str, size: int, stop: threading.Event) -> None:
    """Stream a valid ranking of exactly ``size`` bytes (or the smallest valid one)."""
    prefix = f'{{"RequestId":"{request_id}","RiskRankInfo":{{"VulAsap":['.encode()
    suffix = b'],"Baseline":[]}}'
    detail = json.dumps({"imageVulAsap": 1, "imageVulLater": 2, "imageVulNntf": 3})
    template = json.dumps(
        {
            "Uuid": "@" * 10,
            "ImageId": "huge",
            "Digest": "0" * 64,
            "RepoNamespace": "huge",
            "RepoName": "huge",
            "Tag": "t" + "@" * 10,
            "RiskLevelDetail": detail,
        }
    )
    item_length = len(template.encode())
    room = size - len(prefix) - len(suffix)
    count = max((room + 1) // (item_length + 1), 0)
    used = count * item_length + max(count - 1, 0)
    padding = b" " * max(room - used, 0)
    length = len(prefix) + used + len(padding) + len(suffix)
    _head(handler, 200, request_id, length, _Reply(200, None))
    handler.wfile.write(prefix)
    batch = 2000
    for first in range(0, count, batch):
        if stop.is_set():
            handler.close_connection = True
            return
        numbers = range(first, min(first + batch, count))
        chunk = ",".join(template.replace("@" * 10, f"{i:010d}") for i in numbers)
        handler.wfile.write((("," if first else "") + chunk).encode())
    handler.wfile.write(padding + suffix)
    handler.wfile.flush()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--response",
    "response_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="API response body or 'gate fetch' snapshot to serve. Default: the bundled demo.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to bind; 0 picks a free one.",
)
@click.option(
    "--access-key",
    "access_keys",
    multiple=True,
    metavar="ID:SECRET",
    help="Accept this access key (repeatable). Default: gate-test-id:gate-test-secret.",
)
@click.option(
    "--sts-token",
    metavar="TOKEN",
    help="Treat the access keys as STS keys that must send this x-acs-security-token.",
)
@click.option(
    "--reset-first",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Reset the first N connections (TCP RST, no answer).",
)
@click.option(
    "--fail-first",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Then fail N requests with --fail-status and --fail-code.",
)
@click.option(
    "--fail-status",
    type=click.IntRange(400, 599),
    default=503,
    show_default=True,
    metavar="STATUS",
    help="HTTP status of the injected failures.",
)
@click.option(
    "--fail-code",
    default="ServiceUnavailable",
    show_default=True,
    metavar="CODE",
    help="Error code of the injected failures (e.g. NoPermission with 403).",
)
@click.option(
    "--throttle-first",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Then throttle N requests (HTTP 400 Throttling.User).",
)
@click.option(
    "--retry-after-ms",
    type=click.IntRange(min=0),
    metavar="MS",
    help="Send x-acs-retry-after (milliseconds) with throttled answers.",
)
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Wait this long before every answer.",
)
@click.option("--body", type=click.Choice(BODY_FAULTS), help="Spoil successful answers.")
@click.option(
    "--body-first",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Spoil only the first N successful answers (0: all).",
)
@click.option(
    "--huge-size",
    type=click.IntRange(min=1),
    default=100_000_000,
    show_default=True,
    metavar="BYTES",
    help="Size of the --body huge answer.",
)
@click.option(
    "--vulns",
    "vulns_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help='DescribeImageVulList records to serve (a JSON list, or {"VulRecords": [...]}). '
    "Default: the bundled demo records.",
)
@click.option(
    "--images",
    "images_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="DescribeImageInstances entries to serve (a JSON list, or "
    '{"ImageInstanceList": [...]}). Default: the bundled demo entries.',
)
@click.option(
    "--scan-polls",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    metavar="N",
    help="A scan task answers PROCESSING to N status queries before it ends.",
)
@click.option(
    "--scan-result",
    type=click.Choice(SCAN_RESULTS),
    default="SUCCESS",
    show_default=True,
    help="How scan tasks end (STUCK: never).",
)
@click.option(
    "--fault-action",
    type=click.Choice(ACTIONS),
    help="Inject the faults only into requests for this action. Default: every request.",
)
@click.option("--quiet", is_flag=True, help="Do not log requests to stderr.")
def main(
    response_path: str | None,
    host: str,
    port: int,
    access_keys: tuple[str, ...],
    sts_token: str | None,
    reset_first: int,
    fail_first: int,
    fail_status: int,
    fail_code: str,
    throttle_first: int,
    retry_after_ms: int | None,
    delay: float,
    body: str | None,
    body_first: int,
    huge_size: int,
    vulns_path: str | None,
    images_path: str | None,
    scan_polls: int,
    scan_result: str,
    fault_action: str | None,
    quiet: bool,
) -> None:
    """Serve GetDockerhubImageRiskRankInfo, DescribeImageVulList and DescribeImageInstances
    locally, checking requests like Security Center.

    Point the gate at it with --endpoint http://127.0.0.1:PORT and the credentials
    ALIBABA_CLOUD_ACCESS_KEY_ID=gate-test-id ALIBABA_CLOUD_ACCESS_KEY_SECRET=gate-test-secret.
    The first line on stdout is the URL it serves. SIGTERM or Ctrl-C stops it.
    """
    keys = []
    for spec in access_keys:
        key_id, sep, secret = spec.partition(":")
        if not sep or not key_id or not secret:
            raise click.BadParameter(f"{spec!r} is not ID:SECRET", param_hint="--access-key")
        keys.append(AccessKey(key_id, secret, sts_token))
    if not keys:
        keys.append(AccessKey(DEFAULT_KEY.id, DEFAULT_KEY.secret, sts_token))
    try:
        response = load_response(response_path)
    except OSError as exc:
        raise click.BadParameter(str(exc), param_hint="--response") from None
    except GateError as exc:
        raise click.BadParameter(exc.message, param_hint="--response") from None
    try:
        records = vulns.load_records_file(vulns_path or vulns.DEMO_VULNS)
    except GateError as exc:
        raise click.BadParameter(exc.message, param_hint="--vulns") from None
    try:
        instances = images.load_images_file(images_path or images.DEMO_IMAGES)
    except GateError as exc:
        raise click.BadParameter(exc.message, param_hint="--images") from None
    faults = Faults(
        reset_first=reset_first,
        fail_first=fail_first,
        fail_status=fail_status,
        fail_code=fail_code,
        throttle_first=throttle_first,
        retry_after_ms=retry_after_ms,
        delay=delay,
        body=body,
        body_first=body_first,
        huge_size=huge_size,
        action=fault_action,
    )
    log = None if quiet else (lambda line: click.echo(line, err=True))
    emulator = Emulator(
        response,
        keys=keys,
        faults=faults,
        host=host,
        port=port,
        log=log,
        vul_records=records,
        image_instances=instances,
        scan_polls=scan_polls,
        scan_result=scan_result,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        url = emulator.start()
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    click.echo(f"gate emulator listening on {url}")
    sts = " (STS, token required)" if sts_token else ""
    click.echo(f"accepting access key ids: {', '.join(k.id for k in keys)}{sts}", err=True)
    while not stop.wait(0.1):
        pass
    emulator.stop()


if __name__ == "__main__":
    main()
