"""The emulator over real loopback sockets, with the live client talking to it end to end."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gate.emulator import DEFAULT_KEY, AccessKey, Emulator, Faults, load_response
from gate.errors import SourceError
from gate.source import api
from gate.source.credentials import Credentials
from gate.source.signer import AcsV3Auth

ROOT = Path(__file__).resolve().parents[1]
TEST_CREDS = Credentials(DEFAULT_KEY.id, DEFAULT_KEY.secret)
STS_KEY = AccessKey("STS.emulated", "sts-secret", "sts-token+/=")
STS_CREDS = Credentials(STS_KEY.id, STS_KEY.secret, STS_KEY.security_token)
RID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
RANKING: dict[str, Any] = {
    "RequestId": "FROM-FILE",
    "RiskRankInfo": {
        "VulAsap": [{"RepoNamespace": "ns", "RepoName": "app", "Tag": "1", "Uuid": "u1"}],
        "Baseline": [{"RepoNamespace": "ns", "RepoName": "db", "Tag": "2", "Uuid": "u2"}],
    },
}


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every request on 127.0.0.1 even where CI sets a proxy."""
    for name in list(os.environ):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """An emulator on a free loopback port; parametrize indirectly with Emulator kwargs."""
    options: dict[str, Any] = getattr(request, "param", {})
    with Emulator(RANKING, **options) as emu:
        yield emu


class Sleeps(list[float]):
    """Records the waits the client asks for without spending them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def live(emu: Emulator, creds: Credentials = TEST_CREDS, **options: Any) -> api.LiveResponse:
    kwargs: dict[str, Any] = {"sleep": Sleeps(), "timeout": 10.0}
    kwargs.update(options)
    return api.fetch_ranking(region="cn-hangzhou", endpoint=emu.url, credentials=creds, **kwargs)


def failure(emu: Emulator, creds: Credentials = TEST_CREDS, **options: Any) -> SourceError:
    with pytest.raises(SourceError) as caught:
        live(emu, creds, **options)
    return caught.value


def faulty(**faults: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("emulator", [{"faults": Faults(**faults)}], indirect=True)


# --- serving and verifying ------------------------------------------------------------------


def test_access_key_request_succeeds_with_a_fresh_request_id(emulator: Emulator) -> None:
    first = live(emulator)
    second = live(emulator)
    assert first.body["RiskRankInfo"] == RANKING["RiskRankInfo"]
    assert first.attempts == 1
    assert first.endpoint == emulator.url
    assert first.request_id is not None and RID.match(first.request_id)
    assert first.request_id == first.body["RequestId"] != "FROM-FILE"
    assert first.request_id != second.request_id


@pytest.mark.parametrize("emulator", [{"keys": [STS_KEY]}], indirect=True)
def test_sts_request_succeeds(emulator: Emulator) -> None:
    assert live(emulator, STS_CREDS).attempts == 1
    assert emulator.received[0].headers["x-acs-security-token"] == "sts-token+/="


@pytest.mark.parametrize("emulator", [{"keys": [STS_KEY]}], indirect=True)
def test_sts_key_without_or_with_wrong_token_is_refused(emulator: Emulator) -> None:
    missing = failure(emulator, Credentials(STS_KEY.id, STS_KEY.secret))
    assert (missing.code, missing.status) == ("MissingSecurityToken", 400)
    wrong = failure(emulator, Credentials(STS_KEY.id, STS_KEY.secret, "other-token"))
    assert wrong.code == "InvalidSecurityToken.Mismatch"
    assert wrong.hint is not None and "ALIBABA_CLOUD_SECURITY_TOKEN" in wrong.hint
    assert len(emulator.received) == 2  # neither was retried


def test_wrong_secret_is_signature_does_not_match(emulator: Emulator) -> None:
    error = failure(emulator, Credentials(DEFAULT_KEY.id, "not-the-secret"))
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 400)
    assert error.request_id is not None and RID.match(error.request_id)
    assert error.recommend is not None and "SignatureDoesNotMatch" in error.recommend
    assert len(emulator.received) == 1


def test_unknown_key_is_refused(emulator: Emulator) -> None:
    error = failure(emulator, Credentials("nobody", "whatever"))
    assert (error.code, error.status) == ("InvalidAccessKeyId.NotFound", 404)
    assert error.hint is not None and "credentials" in error.hint


@pytest.mark.parametrize("minutes", [-20, 20])
def test_skewed_date_is_refused(emulator: Emulator, minutes: int) -> None:
    skewed = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)
    error = failure(emulator, now=lambda: skewed)
    assert (error.code, error.status) == ("InvalidTimeStamp.Expired", 400)
    assert error.hint is not None and "clock" in error.hint


def test_date_within_the_window_is_accepted(emulator: Emulator) -> None:
    slightly = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
    assert live(emulator, now=lambda: slightly).attempts == 1


def _raw_request(emu: Emulator, auth: httpx.Auth | None, **headers: str) -> httpx.Response:
    base = {"x-acs-action": api.ACTION, "x-acs-version": api.VERSION, **headers}
    with httpx.Client(auth=auth) as client:
        return client.post(f"{emu.url}/?Types.1=vulAsap", headers=base)


def test_reused_nonce_is_refused(emulator: Emulator) -> None:
    auth = AcsV3Auth(TEST_CREDS, nonce=lambda: "same-nonce-every-time")
    assert _raw_request(emulator, auth).status_code == 200
    replay = _raw_request(emulator, auth)
    assert replay.status_code == 400
    assert replay.json()["Code"] == "SignatureNonceUsed"


def test_error_envelope_has_the_service_shape(emulator: Emulator) -> None:
    response = _raw_request(emulator, None)
    body = response.json()
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert body["Code"] == "IncompleteSignature"
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    assert body["Recommend"].startswith("https://api.aliyun.com/troubleshoot?q=IncompleteSignature")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"x-acs-action": "DescribeSomethingElse"}, 404, "InvalidAction.NotFound"),
        ({"x-acs-version": "2021-01-14"}, 400, "InvalidVersion"),
    ],
)
def test_action_and_version_are_checked(
    emulator: Emulator, headers: dict[str, str], status: int, code: str
) -> None:
    response = _raw_request(emulator, AcsV3Auth(TEST_CREDS), **headers)
    assert (response.status_code, response.json()["Code"]) == (status, code)


def test_unsigned_acs_header_is_refused(emulator: Emulator) -> None:
    request = httpx.Request(
        "POST",
        f"{emulator.url}/",
        headers={"x-acs-action": api.ACTION, "x-acs-version": api.VERSION},
    )
    signed = next(AcsV3Auth(TEST_CREDS).sync_auth_flow(request))
    signed.headers["x-acs-added-later"] = "1"
    with httpx.Client() as client:
        response = client.send(signed)
    assert response.status_code == 400
    assert response.json()["Code"] == "IncompleteSignature"
    assert "x-acs-added-later" in response.json()["Message"]


def test_types_narrow_the_answer(emulator: Emulator) -> None:
    body = live(emulator, types=("vulAsap",)).body
    assert list(body["RiskRankInfo"]) == ["VulAsap"]


def test_serves_the_inner_response_of_a_snapshot_envelope(tmp_path: Path) -> None:
    envelope = {
        "gate_snapshot": 1,
        "fetched_at": "2026-11-28T21:00:00Z",
        "region": "cn-hangzhou",
        "endpoint": "https://tds.cn-shanghai.aliyuncs.com",
        "request_id": "FROM-FILE",
        "response": RANKING,
    }
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(envelope))
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps(RANKING))
    assert load_response(str(path)) == RANKING == load_response(str(raw))
    with Emulator(load_response(str(path))) as emu:
        body = live(emu).body
    assert body["RiskRankInfo"] == RANKING["RiskRankInfo"]
    assert "gate_snapshot" not in body


def test_default_response_is_the_bundled_demo() -> None:
    with Emulator() as emu:
        body = live(emu).body
    assert body["RiskRankInfo"]["VulAsap"][0]["Tag"] == "app:app01-ubuntu"


# --- faults, end to end ---------------------------------------------------------------------


@faulty(fail_first=2, fail_status=503, fail_code="ServiceUnavailable")
def test_failures_are_retried_then_succeed(emulator: Emulator) -> None:
    sleeps = Sleeps()
    result = live(emulator, sleep=sleeps)
    assert result.attempts == 3
    assert [r.status for r in emulator.received] == [503, 503, 200]
    assert len(sleeps) == 2
    nonces = {r.headers["x-acs-signature-nonce"] for r in emulator.received}
    assert len(nonces) == 3


@faulty(throttle_first=1, retry_after_ms=200)
def test_throttling_is_retried_after_the_hint(emulator: Emulator) -> None:
    sleeps = Sleeps()
    assert live(emulator, sleep=sleeps).attempts == 2
    assert sleeps == [0.2]
    assert emulator.received[0].code == "Throttling.User"


@faulty(reset_first=1)
def test_connection_reset_is_retried(emulator: Emulator) -> None:
    assert live(emulator).attempts == 2
    assert [r.status for r in emulator.received] == [0, 200]


@faulty(fail_first=10, fail_status=500, fail_code="InternalError")
def test_retries_exhausted(emulator: Emulator) -> None:
    error = failure(emulator, retries=2)
    assert (error.code, error.status) == ("InternalError", 500)
    assert "3 attempts; 2 retries exhausted" in error.message
    assert len(emulator.received) == 3


@faulty(delay=3.0)
def test_deadline_bounds_a_slow_endpoint(emulator: Emulator) -> None:
    started = time.monotonic()
    error = failure(emulator, timeout=0.5, sleep=time.sleep)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert "did not answer in time" in error.message
    assert "deadline" in error.message


@faulty(fail_first=5, fail_status=403, fail_code="NoPermission")
def test_no_permission_is_not_retried(emulator: Emulator) -> None:
    error = failure(emulator)
    assert (error.code, error.status) == ("NoPermission", 403)
    assert "caller has no permission" in error.message
    assert error.hint is not None and "yundun-sas:GetDockerhubImageRiskRankInfo" in error.hint
    assert len(emulator.received) == 1


@faulty(body="non-json")
def test_non_json_body_fails_closed(emulator: Emulator) -> None:
    error = failure(emulator)
    assert "not JSON" in error.message and "guest network" in error.message
    assert len(emulator.received) == 1


@faulty(body="no-ranking")
def test_body_without_ranking_fails_closed(emulator: Emulator) -> None:
    assert "has no RiskRankInfo object" in failure(emulator).message


@faulty(body="truncated", body_first=1)
def test_truncated_body_is_retried(emulator: Emulator) -> None:
    assert live(emulator).attempts == 2


@faulty(body="truncated")
def test_always_truncated_body_exhausts_retries(emulator: Emulator) -> None:
    error = failure(emulator, retries=1)
    assert "closed" in error.message or "failed" in error.message
    assert len(emulator.received) == 2


@faulty(body="empty")
def test_empty_ranking_is_served(emulator: Emulator) -> None:
    assert live(emulator).body["RiskRankInfo"] == {"VulAsap": [], "Baseline": []}


@faulty(body="huge", huge_size=2_000_000)
def test_huge_body_is_streamed_exactly(emulator: Emulator) -> None:
    result = live(emulator)
    images = result.body["RiskRankInfo"]["VulAsap"]
    assert len(images) > 5000
    assert len(json.dumps(result.body, separators=(",", ":"))) <= 2_000_000
    assert len({image["Uuid"] for image in images}) == len(images)


@faulty(body="huge", huge_size=3_000_000)
def test_huge_body_beyond_the_limit_is_refused(emulator: Emulator) -> None:
    assert "larger than" in failure(emulator, max_body_bytes=1_000_000).message
    assert len(emulator.received) == 1


# --- the command ----------------------------------------------------------------------------


def test_command_serves_until_terminated(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gate.emulator", "--port", "0", "--quiet"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"gate emulator listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        result = api.fetch_ranking(
            region="cn-hangzhou", endpoint=match.group(1), credentials=TEST_CREDS
        )
        assert "RiskRankInfo" in result.body
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0


def test_command_refuses_a_bad_response_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"RequestId": "R"}')
    result = subprocess.run(
        [sys.executable, "-m", "gate.emulator", "--port", "0", "--response", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "RiskRankInfo" in result.stderr
    assert result.stdout == ""
