"""The live API client over httpx.MockTransport: request shape, retries, deadline, failures."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.errors import EXIT_DATA, EXIT_USAGE, SourceError, UsageError
from gate.source import api
from gate.source.credentials import Credentials
from gate.source.signer import lower_headers, parse_authorization, parse_query, sign

NOW = dt.datetime(2026, 11, 28, 21, 0, 0, tzinfo=dt.timezone.utc)
AK = Credentials("test-id", "test-secret")
STS = Credentials("STS.test-id", "sts-secret-value", "sts-token-value+/=")
RANKING: dict[str, Any] = {
    "RequestId": "BODY-RID",
    "RiskRankInfo": {"VulAsap": [{"RepoName": "r", "RepoNamespace": "ns"}], "Baseline": []},
}

Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A monotonic clock that only moves when the code sleeps or a fake request takes time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def fetch(
    handler: Handler,
    clock: FakeTime | None = None,
    *,
    jitter: float = 1.0,
    credentials: Credentials = AK,
    **kwargs: Any,
) -> api.LiveResponse:
    clock = clock or FakeTime()
    options: dict[str, Any] = {"region": "cn-hangzhou", "endpoint": None}
    options.update(kwargs)
    return api.fetch_ranking(
        credentials=credentials,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        random=lambda: jitter,
        now=lambda: NOW,
        **options,
    )


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=RANKING, headers={"x-acs-request-id": "HEADER-RID"})


def api_error(status: int, code: str, message: str = "m", **headers: str) -> httpx.Response:
    body = {
        "RequestId": f"RID-{code}",
        "HostId": "tds.cn-shanghai.aliyuncs.com",
        "Code": code,
        "Message": message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=Sas",
    }
    return httpx.Response(status, json=body, headers=headers)


def sequence(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering with the given responses in order (the last one repeats)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses[min(len(seen), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


# --- the request -------------------------------------------------------------------------


def test_success_returns_body_and_provenance() -> None:
    handler, seen = sequence(ok(httpx.Request("POST", "https://x/")))
    result = fetch(handler)
    assert result.body == RANKING
    assert result.request_id == "BODY-RID"
    assert result.region == "cn-hangzhou"
    assert result.endpoint == "https://tds.cn-shanghai.aliyuncs.com"
    assert result.fetched_at == "2026-11-28T21:00:00Z"
    assert result.attempts == 1
    assert len(seen) == 1


def test_request_is_a_signed_empty_post_with_flattened_types() -> None:
    handler, seen = sequence(ok(httpx.Request("POST", "https://x/")))
    fetch(handler)
    request = seen[0]
    assert request.method == "POST"
    assert request.url.host == "tds.cn-shanghai.aliyuncs.com"
    assert request.url.scheme == "https"
    assert request.url.path == "/"
    assert request.url.query == b"Types.1=vulAsap&Types.2=baseline"
    assert request.content == b""
    assert request.headers["x-acs-action"] == "GetDockerhubImageRiskRankInfo"
    assert request.headers["x-acs-version"] == "2018-12-03"
    assert request.headers["x-acs-date"] == "2026-11-28T21:00:00Z"
    for name in ("x-acs-signature-nonce", "x-acs-content-sha256", "authorization"):
        assert name in request.headers
    assert "x-acs-security-token" not in request.headers
    # The signature verifies with the same functions the emulator uses.
    parsed = parse_authorization(request.headers["authorization"])
    assert parsed is not None and parsed.access_key_id == "test-id"
    expected = sign(
        method="POST",
        path="/",
        query=parse_query(request.url.query.decode()),
        headers=lower_headers(request.headers.multi_items()),
        access_key_id="test-id",
        access_key_secret="test-secret",
        signed=list(parsed.signed_headers),
    )
    assert expected.signature == parsed.signature


def test_types_narrow_the_query() -> None:
    handler, seen = sequence(ok(httpx.Request("POST", "https://x/")))
    fetch(handler, types=("baseline",))
    assert seen[0].url.query == b"Types.1=baseline"


def test_sts_credentials_send_the_token() -> None:
    handler, seen = sequence(ok(httpx.Request("POST", "https://x/")))
    fetch(handler, credentials=STS)
    assert seen[0].headers["x-acs-security-token"] == "sts-token-value+/="


def test_endpoint_override_and_region_are_recorded() -> None:
    handler, seen = sequence(ok(httpx.Request("POST", "https://x/")))
    result = fetch(handler, region="ap-southeast-1", endpoint="http://127.0.0.1:8080/")
    assert seen[0].url.scheme == "http"
    assert (seen[0].url.host, seen[0].url.port) == ("127.0.0.1", 8080)
    assert result.endpoint == "http://127.0.0.1:8080"
    assert result.region == "ap-southeast-1"


def test_request_id_falls_back_to_header() -> None:
    body: dict[str, Any] = {"RiskRankInfo": {}}
    handler, _ = sequence(httpx.Response(200, json=body, headers={"x-acs-request-id": "H"}))
    assert fetch(handler).request_id == "H"


def test_empty_ranking_is_a_valid_answer() -> None:
    body = {"RequestId": "R", "RiskRankInfo": {"VulAsap": [], "Baseline": []}}
    handler, _ = sequence(httpx.Response(200, json=body))
    assert fetch(handler).body == body


def test_missing_credentials_are_resolved_through_the_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[object] = []

    def chain(*, log: object = None) -> Credentials:
        calls.append(log)
        return AK

    monkeypatch.setattr(api, "resolve_credentials", chain)
    handler, seen = sequence(ok(httpx.Request("POST", "https://x/")))
    clock = FakeTime()
    api.fetch_ranking(
        region="cn-hangzhou",
        endpoint=None,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    assert len(calls) == 1
    assert "Credential=test-id," in seen[0].headers["authorization"]


# --- retries, backoff and the deadline -----------------------------------------------------


def test_5xx_is_retried_then_succeeds() -> None:
    clock = FakeTime()
    handler, seen = sequence(api_error(503, "ServiceUnavailable"), ok(httpx.Request("GET", "/")))
    result = fetch(handler, clock, jitter=0.5)
    assert result.attempts == 2
    assert len(seen) == 2
    assert clock.sleeps == [0.25]  # full jitter: 0.5 * min(cap, 0.5 * 2**0)
    # Every attempt is a new request: a fresh nonce each time.
    assert seen[0].headers["x-acs-signature-nonce"] != seen[1].headers["x-acs-signature-nonce"]


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    clock = FakeTime()
    handler, seen = sequence(api_error(500, "InternalError"))
    with pytest.raises(SourceError, match="8 attempts"):
        fetch(handler, clock, jitter=0.999, retries=7, timeout=1000)
    assert len(seen) == 8
    bounds = [min(api.BACKOFF_CAP, api.BACKOFF_BASE * 2**k) for k in range(7)]
    assert clock.sleeps == pytest.approx([0.999 * b for b in bounds])
    assert bounds[-1] == api.BACKOFF_CAP
    assert all(s <= api.BACKOFF_CAP for s in clock.sleeps)


def test_jitter_zero_means_no_wait() -> None:
    clock = FakeTime()
    handler, _ = sequence(api_error(502, "BadGateway"), ok(httpx.Request("GET", "/")))
    fetch(handler, clock, jitter=0.0)
    assert clock.sleeps == [0.0]


def test_429_honours_x_acs_retry_after_in_milliseconds() -> None:
    clock = FakeTime()
    handler, _ = sequence(
        api_error(429, "TooManyRequests", **{"x-acs-retry-after": "1500"}),
        ok(httpx.Request("GET", "/")),
    )
    fetch(handler, clock)
    assert clock.sleeps == [1.5]


def test_retry_after_in_seconds_is_honoured() -> None:
    clock = FakeTime()
    handler, _ = sequence(
        api_error(503, "ServiceUnavailable", **{"Retry-After": "2"}),
        ok(httpx.Request("GET", "/")),
    )
    fetch(handler, clock)
    assert clock.sleeps == [2.0]


def test_retry_after_http_date_is_honoured() -> None:
    clock = FakeTime()
    when = "Sat, 28 Nov 2026 21:00:03 GMT"
    handler, _ = sequence(
        api_error(503, "ServiceUnavailable", **{"Retry-After": when}),
        ok(httpx.Request("GET", "/")),
    )
    fetch(handler, clock)
    assert clock.sleeps == [3.0]


def test_throttling_code_is_retried_whatever_the_status() -> None:
    clock = FakeTime()
    handler, seen = sequence(
        api_error(400, "Throttling.User", "Request was denied due to user flow control."),
        ok(httpx.Request("GET", "/")),
    )
    assert fetch(handler, clock).attempts == 2
    assert len(seen) == 2


def test_retries_exhausted_reports_the_last_failure() -> None:
    handler, seen = sequence(api_error(503, "ServiceUnavailable", "try later"))
    with pytest.raises(SourceError) as caught:
        fetch(handler, retries=2)
    assert len(seen) == 3
    error = caught.value
    assert error.exit_code == EXIT_DATA
    assert error.code == "ServiceUnavailable"
    assert error.status == 503
    assert "try later" in error.message
    assert "3 attempts; 2 retries exhausted" in error.message


def test_retry_hint_beyond_the_deadline_is_not_waited_for() -> None:
    clock = FakeTime()
    handler, seen = sequence(api_error(429, "Throttling", **{"x-acs-retry-after": "90000"}))
    with pytest.raises(SourceError, match="would pass the 60s deadline"):
        fetch(handler, clock)
    assert len(seen) == 1
    assert clock.sleeps == []


def test_deadline_stops_retries() -> None:
    clock = FakeTime()
    start = clock.now
    handler, seen = sequence(api_error(503, "ServiceUnavailable", **{"x-acs-retry-after": "1000"}))
    with pytest.raises(SourceError, match="deadline"):
        fetch(handler, clock, retries=10, timeout=2.5)
    assert len(seen) == 3  # at 0 s, 1 s and 2 s; a third wait would end at 3 s
    assert clock.now - start <= 2.5


def test_each_attempt_gets_only_the_time_left() -> None:
    clock = FakeTime()
    budgets: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        budgets.append(request.extensions["timeout"]["read"])
        clock.now += 1.0
        return api_error(500, "InternalError")

    with pytest.raises(SourceError):
        fetch(handler, clock, jitter=0.0, retries=3, timeout=10)
    assert budgets == [10.0, 9.0, 8.0, 7.0]


@settings(max_examples=150, deadline=None)
@given(
    timeout=st.floats(min_value=0.5, max_value=120),
    retries=st.integers(min_value=0, max_value=8),
    jitter=st.floats(min_value=0, max_value=0.999),
    script=st.lists(
        st.tuples(
            st.sampled_from([200, 429, 500, 503, 400]),
            st.one_of(st.none(), st.integers(min_value=0, max_value=30_000)),
            st.floats(min_value=0, max_value=40),
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_no_sequence_of_retries_passes_the_deadline(
    timeout: float,
    retries: int,
    jitter: float,
    script: list[tuple[int, int | None, float]],
) -> None:
    """Whatever fails and whatever the server hints, time spent never exceeds the timeout.

    Each fake request takes some time, but no more than the budget the client handed to the
    transport (a real transport times out there).
    """
    clock = FakeTime()
    start = clock.now
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        assert clock.now < start + timeout  # never starts an attempt at or after the deadline
        status, hint_ms, duration = script[min(calls, len(script) - 1)]
        calls += 1
        budget = request.extensions["timeout"]["read"]
        if duration >= budget:
            clock.now += budget
            raise httpx.ReadTimeout("timed out", request=request)
        clock.now += duration
        if status == 200:
            return httpx.Response(200, json=RANKING)
        headers = {} if hint_ms is None else {"x-acs-retry-after": str(hint_ms)}
        return api_error(status, "Throttling" if status == 400 else "E", **headers)

    with contextlib.suppress(SourceError):
        fetch(handler, clock, jitter=jitter, retries=retries, timeout=timeout)
    assert calls <= retries + 1
    assert clock.now - start <= timeout + 1e-9


# --- failures that are not retried ------------------------------------------------------


def test_403_no_permission_is_not_retried_and_hints_the_ram_permission() -> None:
    handler, seen = sequence(api_error(403, "NoPermission", "caller has no permission"))
    with pytest.raises(SourceError) as caught:
        fetch(handler)
    assert len(seen) == 1
    error = caught.value
    assert (error.code, error.status, error.request_id) == ("NoPermission", 403, "RID-NoPermission")
    assert error.recommend == "https://api.aliyun.com/troubleshoot?q=NoPermission&product=Sas"
    rendered = error.render()
    first, hint = rendered.split("\n")
    assert "caller has no permission" in first
    assert "code NoPermission" in first and "HTTP 403" in first and "RID-NoPermission" in first
    assert "see https://api.aliyun.com/troubleshoot" in first
    assert "yundun-sas:GetDockerhubImageRiskRankInfo" in hint


@pytest.mark.parametrize(
    ("status", "code", "hint_part"),
    [
        (404, "InvalidAccessKeyId.NotFound", "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        (400, "InvalidSecurityToken.Expired", "STS token expires"),
        (400, "SignatureDoesNotMatch", "secret does not match"),
        (400, "InvalidTimeStamp.Expired", "clock"),
        (403, "Forbidden.RAM", "yundun-sas:GetDockerhubImageRiskRankInfo"),
        (400, "InvalidParameter", None),
        (404, "InvalidAction.NotFound", "--endpoint"),
    ],
)
def test_client_errors_are_not_retried(status: int, code: str, hint_part: str | None) -> None:
    handler, seen = sequence(api_error(status, code))
    with pytest.raises(SourceError) as caught:
        fetch(handler)
    assert len(seen) == 1
    assert caught.value.code == code
    if hint_part is None:
        assert caught.value.hint is None
    else:
        assert caught.value.hint is not None and hint_part in caught.value.hint


def test_clock_hint_shows_the_date_that_was_sent() -> None:
    handler, _ = sequence(api_error(400, "InvalidTimeStamp.Expired"))
    with pytest.raises(SourceError) as caught:
        fetch(handler)
    assert caught.value.hint is not None and "2026-11-28T21:00:00Z" in caught.value.hint


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"<html>Service Unavailable</html>", "not JSON: <html>Service Unavailable</html>"),
        (b"", "not JSON: (empty)"),
        (b'{"RequestId": "R", "Ranking"', "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"RequestId": "R"}', "has no RiskRankInfo object"),
        (b'{"RequestId": "R", "RiskRankInfo": []}', "RiskRankInfo that is not an object"),
        (b'{"RequestId": "R", "RiskRankInfo": null}', "RiskRankInfo that is not an object"),
    ],
)
def test_malformed_success_bodies_fail_closed(body: bytes, needle: str) -> None:
    handler, seen = sequence(httpx.Response(200, content=body))
    with pytest.raises(SourceError) as caught:
        fetch(handler)
    assert needle in caught.value.message
    assert len(seen) == 1


def test_error_code_in_a_200_body_is_reported() -> None:
    body = {"RequestId": "R", "Code": "InternalError", "Message": "oops"}
    handler, _ = sequence(httpx.Response(200, json=body))
    with pytest.raises(SourceError) as caught:
        fetch(handler)
    assert caught.value.code == "InternalError"
    assert "oops" in caught.value.message
    assert caught.value.request_id == "R"


def test_5xx_with_non_json_body_is_retried_and_quoted() -> None:
    handler, seen = sequence(httpx.Response(502, content=b"<h1>Bad gateway</h1>"))
    with pytest.raises(SourceError) as caught:
        fetch(handler, retries=1)
    assert len(seen) == 2
    assert "<h1>Bad gateway</h1>" in caught.value.message
    assert caught.value.status == 502


def test_oversized_body_is_refused_and_the_hint_says_how_to_raise_the_limit() -> None:
    big = {"RequestId": "R", "RiskRankInfo": {"VulAsap": [{"Tag": "x" * 2000}]}}
    handler, seen = sequence(httpx.Response(200, json=big))
    with pytest.raises(SourceError, match="larger than 1000 bytes") as caught:
        fetch(handler, max_body_bytes=1000)
    assert len(seen) == 1
    assert caught.value.hint is not None and "--max-response-mb" in caught.value.hint
    assert "GATE_MAX_RESPONSE_MB" in caught.value.hint
    assert fetch(handler, max_body_bytes=10_000).body == big


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(status: int) -> None:
    elsewhere = "https://attacker.example/steal"
    handler, seen = sequence(httpx.Response(status, headers={"Location": elsewhere}))
    with pytest.raises(SourceError) as caught:
        fetch(handler, credentials=STS)
    assert len(seen) == 1  # nothing was sent to the Location
    assert all(r.url.host == "tds.cn-shanghai.aliyuncs.com" for r in seen)
    assert elsewhere in caught.value.message
    assert caught.value.status == status


# --- transport failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
    ],
)
def test_transport_errors_are_retried(exc: Exception) -> None:
    handler, seen = sequence(exc, ok(httpx.Request("GET", "/")))
    assert fetch(handler).attempts == 2
    assert len(seen) == 2


def test_connection_failure_exhausted_names_the_host_and_hints_network() -> None:
    handler, _ = sequence(httpx.ConnectError("Name or service not known"))
    with pytest.raises(SourceError) as caught:
        fetch(handler, retries=1)
    error = caught.value
    assert "cannot connect to tds.cn-shanghai.aliyuncs.com" in error.message
    assert "Name or service not known" in error.message
    assert error.hint is not None and "HTTPS_PROXY" in error.hint


def test_certificate_failure_is_not_retried() -> None:
    failure = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    handler, seen = sequence(failure)
    with pytest.raises(SourceError, match="TLS certificate"):
        fetch(handler)
    assert len(seen) == 1


# --- secrets stay secret --------------------------------------------------------------------


def test_debug_log_redacts_authorization_and_token() -> None:
    lines: list[str] = []
    handler, _ = sequence(api_error(503, "ServiceUnavailable"), ok(httpx.Request("GET", "/")))
    fetch(handler, credentials=STS, log=lines.append)
    text = "\n".join(lines)
    assert "authorization: <redacted>" in text
    assert "x-acs-security-token: <redacted>" in text
    assert "sts-secret-value" not in text
    assert "sts-token-value" not in text
    assert "Signature=" not in text
    assert "retrying in" in text
    assert "HTTP 503" in text and "HTTP 200" in text


def test_error_messages_never_echo_the_secret_or_token() -> None:
    message = "bad token sts-token-value+/= for secret sts-secret-value"
    handler, _ = sequence(api_error(400, "InvalidSecurityToken.Malformed", message))
    with pytest.raises(SourceError) as caught:
        fetch(handler, credentials=STS)
    rendered = caught.value.render()
    assert "sts-token-value" not in rendered
    assert "sts-secret-value" not in rendered
    assert "<redacted>" in rendered


# --- usage errors come first ----------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"region": "CN-HANGZHOU"},
        {"region": "cn_hangzhou"},
        {"region": ""},
        {"region": "hangzhou"},
        {"endpoint": "ftp://tds.aliyuncs.com"},
        {"endpoint": "https://user:pw@tds.aliyuncs.com"},
        {"endpoint": "https://tds.aliyuncs.com/sub/path"},
        {"endpoint": "https://tds.aliyuncs.com/?a=b"},
        {"endpoint": "http://127.0.0.1:99999"},
        {"endpoint": "   "},
        {"endpoint": "bad host name"},
        {"types": ("vulAsap", "malware")},
        {"types": ()},
        {"retries": -1},
        {"timeout": 0},
    ],
)
def test_malformed_options_are_usage_errors_before_any_work(
    options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_chain(**_: object) -> Credentials:
        raise AssertionError("credentials must not be resolved for a usage error")

    monkeypatch.setattr(api, "resolve_credentials", no_chain)
    kwargs: dict[str, Any] = {"region": "cn-hangzhou", "endpoint": None, **options}

    def no_network(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request for a usage error")

    with pytest.raises(UsageError) as caught:
        api.fetch_ranking(transport=httpx.MockTransport(no_network), **kwargs)
    assert caught.value.exit_code == EXIT_USAGE


# --- endpoints -----------------------------------------------------------------------------

# Entries of the official SDK's endpoint map for Sas 2018-12-03 (aliyun/alibabacloud-go-sdk,
# sas-20181203/client/client.go) and regions it does not list yet.
SDK_MAP = {
    "cn-hangzhou": api.MAINLAND_ENDPOINT,
    "cn-shanghai": api.MAINLAND_ENDPOINT,
    "cn-beijing": api.MAINLAND_ENDPOINT,
    "cn-shenzhen": api.MAINLAND_ENDPOINT,
    "cn-chengdu": api.MAINLAND_ENDPOINT,
    "cn-hongkong": api.MAINLAND_ENDPOINT,
    "cn-beijing-finance-1": api.MAINLAND_ENDPOINT,
    "cn-north-2-gov-1": api.MAINLAND_ENDPOINT,
    "cn-wuhan-lr": api.MAINLAND_ENDPOINT,
    "ap-southeast-1": api.INTERNATIONAL_ENDPOINT,
    "ap-southeast-3": api.INTERNATIONAL_ENDPOINT,
    "ap-northeast-1": api.INTERNATIONAL_ENDPOINT,
    "ap-south-1": api.INTERNATIONAL_ENDPOINT,
    "eu-central-1": api.INTERNATIONAL_ENDPOINT,
    "eu-west-1": api.INTERNATIONAL_ENDPOINT,
    "us-east-1": api.INTERNATIONAL_ENDPOINT,
    "us-west-1": api.INTERNATIONAL_ENDPOINT,
    "me-east-1": api.INTERNATIONAL_ENDPOINT,
    "me-central-1": api.INTERNATIONAL_ENDPOINT,
    "cn-future-9": api.MAINLAND_ENDPOINT,
    "sa-east-1": api.INTERNATIONAL_ENDPOINT,
}


@pytest.mark.parametrize(("region", "host"), sorted(SDK_MAP.items()))
def test_endpoint_for_region_follows_the_sdk_map(region: str, host: str) -> None:
    assert api.endpoint_for_region(region) == host


def test_official_endpoints() -> None:
    assert api.MAINLAND_ENDPOINT == "tds.cn-shanghai.aliyuncs.com"
    assert api.INTERNATIONAL_ENDPOINT == "tds.ap-southeast-1.aliyuncs.com"


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("tds.cn-shanghai.aliyuncs.com", "https://tds.cn-shanghai.aliyuncs.com"),
        ("tds-vpc.cn-shanghai.aliyuncs.com", "https://tds-vpc.cn-shanghai.aliyuncs.com"),
        (" TDS.ap-southeast-1.aliyuncs.com ", "https://tds.ap-southeast-1.aliyuncs.com"),
        ("proxy.internal:8443", "https://proxy.internal:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("HTTPS://Example.COM", "https://example.com"),
        ("[::1]:8080", "https://[::1]:8080"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
    ],
)
def test_parse_endpoint(text: str, url: str) -> None:
    assert api.parse_endpoint(text) == url


def test_resolve_endpoint() -> None:
    assert api.resolve_endpoint("us-east-1", None) == "https://tds.ap-southeast-1.aliyuncs.com"
    assert api.resolve_endpoint("us-east-1", "h.example") == "https://h.example"


def test_retry_after_parsing() -> None:
    def hint(**headers: str) -> float | None:
        return api.retry_after_seconds(httpx.Headers(headers), NOW)

    assert hint() is None
    assert hint(**{"x-acs-retry-after": "250"}) == 0.25
    assert hint(**{"Retry-After": "3"}) == 3.0
    assert hint(**{"Retry-After": "Sat, 28 Nov 2026 20:59:00 GMT"}) == 0.0
    assert hint(**{"Retry-After": "soon"}) is None
    assert hint(**{"x-acs-retry-after": "x", "Retry-After": "1"}) == 1.0


# --- region resolution -----------------------------------------------------------------------

PROFILE = Credentials(
    "cli-id", "cli-secret", origin="aliyun CLI profile 'default'", profile_region="ap-southeast-1"
)


def _host(request: httpx.Request) -> str:
    return request.url.host


def test_region_from_the_cli_profile_when_none_is_given() -> None:
    handler, seen = sequence(httpx.Response(200, json=RANKING))
    result = fetch(handler, credentials=PROFILE, region=None)
    assert (result.region, result.region_origin) == (
        "ap-southeast-1",
        "aliyun CLI profile 'default'",
    )
    assert result.endpoint == "https://tds.ap-southeast-1.aliyuncs.com"
    assert _host(seen[0]) == "tds.ap-southeast-1.aliyuncs.com"
    assert result.warnings == ()


def test_explicit_region_beats_the_cli_profile() -> None:
    handler, _ = sequence(httpx.Response(200, json=RANKING))
    result = fetch(
        handler, credentials=PROFILE, region="cn-beijing", region_origin="ALIBABA_CLOUD_REGION_ID"
    )
    assert (result.region, result.region_origin) == ("cn-beijing", "ALIBABA_CLOUD_REGION_ID")
    assert result.endpoint == "https://tds.cn-shanghai.aliyuncs.com"


def test_default_region_without_profile() -> None:
    handler, _ = sequence(httpx.Response(200, json=RANKING))
    result = fetch(handler, region=None)
    assert (result.region, result.region_origin) == ("cn-hangzhou", "default")


def test_unknown_region_is_a_warning_with_a_suggestion() -> None:
    handler, _ = sequence(httpx.Response(200, json=RANKING))
    lines: list[str] = []
    result = fetch(handler, region="cn-hanzhou", log=lines.append)
    assert len(result.warnings) == 1
    assert "'cn-hanzhou' (from --region)" in result.warnings[0]
    assert "did you mean cn-hangzhou?" in result.warnings[0]
    assert any("did you mean cn-hangzhou" in line for line in lines)
    assert "cn-hangzhou" in api.KNOWN_REGIONS and "ap-southeast-1" in api.KNOWN_REGIONS


# --- hostile or odd answers ------------------------------------------------------------------


def test_api_text_in_errors_is_single_line_and_escaped() -> None:
    body = {
        "RequestId": "RID\n::error::x",
        "Code": "Bad\n::stop-commands::tok",
        "Message": "line1\r\n::error::pwned \x1b[31mred\x1b[0m",
        "Recommend": "https://x.invalid/\n\x1b]8;;evil\x07",
    }
    handler, _ = sequence(httpx.Response(400, json=body))
    with pytest.raises(SourceError) as caught:
        fetch(handler)
    error = caught.value
    for value in (error.render(), error.code or "", error.request_id or "", error.recommend or ""):
        assert "\n" not in value.replace("\n  hint:", "")
        assert "\r" not in value and "\x1b" not in value and "\x07" not in value
    assert "\\x1b[31mred" in error.message
    assert error.code == "Bad ::stop-commands::tok"


def test_deeply_nested_body_is_refused_not_a_crash() -> None:
    handler, seen = sequence(httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(SourceError, match="nested more than"):
        fetch(handler)
    assert len(seen) == 1
    nested = {"RequestId": "R", "RiskRankInfo": {"VulAsap": json_nest(80)}}
    handler, _ = sequence(httpx.Response(200, json=nested))
    with pytest.raises(SourceError, match="nested more than"):
        fetch(handler)


def json_nest(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def test_tls_protocol_mismatch_is_not_retried_and_hints_http() -> None:
    import ssl

    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    exc = httpx.ConnectError(str(cause))
    exc.__cause__ = cause
    handler, seen = sequence(exc)
    with pytest.raises(SourceError) as caught:
        fetch(handler, endpoint="127.0.0.1:8080")
    assert len(seen) == 1
    assert caught.value.hint is not None
    assert "--endpoint http://127.0.0.1:8080" in caught.value.hint


def test_short_secret_does_not_garble_messages_or_hints() -> None:
    handler, _ = sequence(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(SourceError) as caught:
        fetch(handler, credentials=Credentials("id", "a"), retries=0)
    text = caught.value.render()
    assert "tds.cn-shanghai.aliyuncs.com" in text
    assert "<redacted>" not in text
