"""The live path through the real ``gate`` command, against loopback servers only: secrets
never reach any output channel, one deadline bounds the whole call, environment mistakes end
in one line (no traceback), and text from the API stays data.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gate.emulator import AccessKey, Emulator
from tests.conftest import gate_command

SECRET = "SENTINEL-SECRET-q7Zx2Wv9"
STS_TOKEN = "SENTINEL-STS-TOKEN-k3Jd8Pq1+/="
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJTRU5USU5FTC1vaWRjIjoxfQ.U0VOVElORUwtb2lkYy1zaWc"
URI_SECRET = "SENTINEL-URI-SECRET-m4Tn6Rb2"
URI_TOKEN = "SENTINEL-URI-TOKEN-h5Gs1Lc8"
PROFILE_SECRET = "SENTINEL-PROFILE-SECRET-w2Ey7Ua3"
INI_SECRET = "SENTINEL-INI-SECRET-p9Vb4Nc6"
SENTINELS = (SECRET, STS_TOKEN, JWT, URI_SECRET, URI_TOKEN, PROFILE_SECRET, INI_SECRET)


def _fragments(value: str) -> set[str]:
    """The value and its distinctive parts (a JWT's payload; the token without +/=)."""
    parts = {value, value.rstrip("+/="), value.replace("+", "%2B").replace("/", "%2F")}
    if value.startswith("eyJ"):
        parts.update(value.split(".")[1:])
    return parts


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    files: dict[str, str]
    elapsed: float

    def channels(self) -> dict[str, str]:
        return {"stdout": self.stdout, "stderr": self.stderr, **self.files}

    def assert_no_secret(self) -> None:
        for name, text in self.channels().items():
            for sentinel in SENTINELS:
                for fragment in _fragments(sentinel):
                    assert fragment not in text, f"{fragment!r} leaked into {name}:\n{text}"

    def assert_one_line_error(self, code: int) -> None:
        assert self.code == code, self.stderr
        assert "Traceback" not in self.stderr
        assert "internal error" not in self.stderr.lower()
        errors = [line for line in self.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, self.stderr


def run_gate(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    debug: bool = False,
    command: str = "check",
    timeout: float = 120,
) -> Run:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "GATE_CACHE_DIR": "",
    }
    base.update(env or {})
    outputs = {
        "json": tmp_path / "report.json",
        "junit": tmp_path / "junit.xml",
        "summary": tmp_path / "summary.md",
    }
    for path in outputs.values():
        path.unlink(missing_ok=True)
    argv = [*gate_command(), command]
    if command == "check":
        argv += ["--all-namespaces", "--retries", "0"]
        for name, path in outputs.items():
            argv += [f"--{name}", str(path)]
    else:
        argv += ["-o", str(tmp_path / "fetched.json")]
    if debug:
        argv.append("--debug")
    started = time.monotonic()
    done = subprocess.run([*argv, *args], env=base, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - started
    files = {
        name: path.read_text(encoding="utf-8", errors="replace")
        for name, path in outputs.items()
        if path.exists()
    }
    return Run(done.returncode, done.stdout, done.stderr, files, elapsed)


# --- loopback servers ----------------------------------------------------------------------


@dataclass
class Canned:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    hits: int = 0


@pytest.fixture
def canned() -> Iterator[tuple[Canned, str]]:
    """An HTTP server on loopback answering every request with one canned response."""
    answer = Canned()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            answer.hits += 1
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield answer, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    keys = (AccessKey("gate-test-id", "gate-test-secret"), AccessKey("sts-id", "sts-secret", "x"))
    with Emulator(keys=keys) as emu:
        yield emu


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- 1. secrets --------------------------------------------------------------------------------


def _oidc_env(tmp_path: Path) -> dict[str, str]:
    token = tmp_path / "oidc-token"
    token.write_text(JWT)
    # The STS exchange goes through a proxy on a closed loopback port: it fails on the
    # network, and the library's error quotes the whole STS URL, OIDCToken included.
    return {
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(token),
        "ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1:role/gate",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::1:oidc-provider/ci",
        "HTTPS_PROXY": f"http://127.0.0.1:{_closed_port()}",
    }


def _uri_env(url: str) -> dict[str, str]:
    return {"ALIBABA_CLOUD_CREDENTIALS_URI": f"{url}/credentials?token={SECRET}"}


def _profile(home: Path, **profile: str) -> None:
    (home / ".aliyun").mkdir(parents=True, exist_ok=True)
    entry = {"name": "default", "mode": "AK", **profile}
    config = {"current": "default", "profiles": [entry]}
    (home / ".aliyun" / "config.json").write_text(json.dumps(config))


def _ini(home: Path, text: str) -> None:
    (home / ".alibabacloud").mkdir(parents=True, exist_ok=True)
    (home / ".alibabacloud" / "credentials.ini").write_text(text)


@pytest.mark.parametrize("debug", [False, True], ids=["quiet", "debug"])
def test_oidc_exchange_failure_names_the_source_and_hides_the_token(
    tmp_path: Path, debug: bool
) -> None:
    run = run_gate(tmp_path, env=_oidc_env(tmp_path), debug=debug)
    run.assert_one_line_error(3)
    run.assert_no_secret()
    error = next(line for line in run.stderr.splitlines() if line.startswith("error:"))
    assert "OIDC role" in error
    assert "proxy" in error.lower()
    assert "no Alibaba Cloud credentials found" not in error
    if debug:
        assert "OIDCToken=<redacted>" in run.stderr


@pytest.mark.parametrize("debug", [False, True], ids=["quiet", "debug"])
@pytest.mark.parametrize("status", [200, 500])
def test_rejected_credentials_uri_answer_hides_the_secrets(
    tmp_path: Path, canned: tuple[Canned, str], debug: bool, status: int
) -> None:
    answer, url = canned
    answer.status = status
    # No Expiration: the library rejects it and quotes the whole answer in its error.
    body = {
        "Code": "Success",
        "AccessKeyId": "uri-id",
        "AccessKeySecret": URI_SECRET,
        "SecurityToken": URI_TOKEN,
    }
    answer.body = json.dumps(body).encode()
    run = run_gate(tmp_path, env=_uri_env(url), debug=debug)
    run.assert_one_line_error(3)
    run.assert_no_secret()
    assert answer.hits >= 1
    assert "credentials URI" in run.stderr


@pytest.mark.parametrize("debug", [False, True], ids=["quiet", "debug"])
@pytest.mark.parametrize(
    "source",
    ["env-unknown-key", "env-wrong-secret", "sts-token", "cli-profile", "credentials-file"],
)
def test_refused_credentials_never_print_the_secret(
    tmp_path: Path, emulator: Emulator, debug: bool, source: str
) -> None:
    home = tmp_path / "home"
    env: dict[str, str] = {}
    if source == "env-unknown-key":
        env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "nobody", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET}
    elif source == "env-wrong-secret":
        env = {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "gate-test-id",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
        }
    elif source == "sts-token":
        env = {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "sts-id",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sts-secret",
            "ALIBABA_CLOUD_SECURITY_TOKEN": STS_TOKEN,
        }
    elif source == "cli-profile":
        _profile(home, access_key_id="gate-test-id", access_key_secret=PROFILE_SECRET)
    else:
        _ini(
            home,
            "[default]\ntype = access_key\naccess_key_id = gate-test-id\n"
            f"access_key_secret = {INI_SECRET}\n",
        )
    run = run_gate(tmp_path, "--endpoint", emulator.url, env=env, debug=debug)
    run.assert_one_line_error(3)
    run.assert_no_secret()
    assert emulator.received, "the request should have reached the emulator"


@pytest.mark.parametrize("debug", [False, True], ids=["quiet", "debug"])
def test_broken_profile_and_credentials_files_never_print_their_secrets(
    tmp_path: Path, debug: bool
) -> None:
    home = tmp_path / "home"
    _profile(home, mode="StsToken", access_key_secret=PROFILE_SECRET, sts_token=STS_TOKEN)
    _ini(home, f"access_key_secret = {INI_SECRET}\n[default]\ntype = nonsense\n")
    run = run_gate(tmp_path, env={"ALIBABA_CLOUD_PROFILE": "default"}, debug=debug)
    run.assert_one_line_error(3)
    run.assert_no_secret()
    assert "aliyun CLI profile" in run.stderr


def test_short_secret_does_not_garble_other_text(tmp_path: Path) -> None:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "nobody", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "a"}
    port = _closed_port()
    run = run_gate(tmp_path, "--endpoint", f"http://127.0.0.1:{port}", env=env, debug=True)
    run.assert_one_line_error(3)
    assert f"127.0.0.1:{port}" in run.stderr
    assert "reachable" in run.stderr  # the hint is intact
    # Only the Authorization header is hidden; nothing else contains the one-letter secret
    # as a whole token, so nothing else is redacted.
    assert "<redacted>" not in re.sub(r"(?i)authorization: <redacted>", "", run.stderr)


# --- 2. the deadline -------------------------------------------------------------------------


@pytest.fixture
def drip() -> Iterator[str]:
    """A server that answers with a status line and headers one byte a second (60 s)."""
    stop = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 40 + b"\r\n\r\n"
            for byte in head:
                if stop.wait(1.0):
                    return
                try:
                    self.request.sendall(bytes([byte]))
                except OSError:
                    return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stop.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("command", ["check", "fetch"])
def test_timeout_bounds_a_dripping_endpoint(tmp_path: Path, drip: str, command: str) -> None:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret"}
    run = run_gate(
        tmp_path, "--endpoint", drip, "--timeout", "2", env=env, command=command, timeout=90
    )
    run.assert_one_line_error(3)
    # A functional bound: far below the 60 s the drip takes, generous for a loaded machine.
    assert run.elapsed < 15, run.elapsed
    assert "did not answer in time" in run.stderr


@pytest.fixture
def plain_tcp() -> Iterator[tuple[str, list[int]]]:
    """A plain-HTTP server that counts connections (a TLS ClientHello gets a 400)."""
    connections: list[int] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            connections.append(1)
            self.request.recv(65536)
            self.request.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", connections
    server.shutdown()
    server.server_close()


def test_tls_against_plain_http_is_not_retried_and_hints_http(
    tmp_path: Path, plain_tcp: tuple[str, list[int]]
) -> None:
    address, connections = plain_tcp
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret"}
    run = run_gate(tmp_path, "--endpoint", address, "--retries", "3", env=env)
    run.assert_one_line_error(3)
    assert len(connections) == 1
    assert f"--endpoint http://{address}" in run.stderr


# --- 3. no crashes -------------------------------------------------------------------------


TEST_KEYS = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "gate-test-id",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "gate-test-secret",
}


def test_deeply_nested_answer_is_a_data_error(tmp_path: Path, canned: tuple[Canned, str]) -> None:
    answer, url = canned
    answer.body = b"[" * 200_000 + b"]" * 200_000
    run = run_gate(tmp_path, "--endpoint", url, env=TEST_KEYS)
    run.assert_one_line_error(3)
    assert "nested" in run.stderr


def test_moderately_nested_answer_is_a_data_error(
    tmp_path: Path, canned: tuple[Canned, str]
) -> None:
    answer, url = canned
    deep = "[" * 500 + "]" * 500
    answer.body = f'{{"RequestId": "R", "RiskRankInfo": {{"VulAsap": {deep}}}}}'.encode()
    for command in ("check", "fetch"):
        run = run_gate(tmp_path, "--endpoint", url, env=TEST_KEYS, command=command)
        run.assert_one_line_error(3)


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("ALL_PROXY", "socks5://127.0.0.1:1", "socksio"),
        ("HTTPS_PROXY", "ftp://user:pw-SENTINEL-SECRET-q7Zx2Wv9@127.0.0.1:1", "proxy"),
        ("SSL_CERT_FILE", "/nonexistent/ca.pem", "SSL_CERT_FILE"),
    ],
)
@pytest.mark.parametrize("command", ["check", "fetch"])
def test_unusable_network_settings_are_configuration_errors(
    tmp_path: Path, emulator: Emulator, variable: str, value: str, needle: str, command: str
) -> None:
    env = {**TEST_KEYS, variable: value}
    run = run_gate(tmp_path, "--endpoint", emulator.url, env=env, command=command)
    run.assert_one_line_error(2)
    assert needle in run.stderr
    run.assert_no_secret()


# --- 4. text from the API is data ------------------------------------------------------------


HOSTILE = {
    "RequestId": "RID\n::error::pwned-by-request-id",
    "Code": "Forbidden\n::stop-commands::pwned",
    "Message": "no\r\x1b[2K\x1b[31mfake success\x1b[0m\n::error file=x::pwned-by-message",
    "Recommend": "https://example.invalid/\n\x1b]8;;https://evil.invalid\x07link",
}


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_hostile_error_envelope_stays_data(
    tmp_path: Path, canned: tuple[Canned, str], ci: str
) -> None:
    answer, url = canned
    answer.status = 403
    answer.body = json.dumps(HOSTILE).encode()
    env = dict(TEST_KEYS)
    env.update({"GITHUB_ACTIONS": "true"} if ci == "github" else {"GITLAB_CI": "true"})
    run = run_gate(tmp_path, "--endpoint", url, env=env)
    run.assert_one_line_error(3)
    for name, text in run.channels().items():
        for line in text.splitlines():
            assert not line.startswith("::stop-commands::"), (name, line)
            assert "pwned" not in line or not line.lstrip().startswith("::error::pwned"), line
        for injected in ("\x1b[31m", "\x1b]8;;", "\x1b[2K", "\rfake"):
            assert injected not in text, (name, injected)
    assert "pwned-by-message" in run.stderr  # shown, as data


# --- the region ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "region", "origin"),
    [
        ([], {}, "ap-southeast-1", "aliyun CLI profile 'default'"),
        (["--region", "cn-beijing"], {}, "cn-beijing", "--region"),
        (
            [],
            {"ALIBABA_CLOUD_REGION_ID": "eu-central-1"},
            "eu-central-1",
            "ALIBABA_CLOUD_REGION_ID",
        ),
    ],
    ids=["profile", "option", "variable"],
)
def test_the_region_and_where_it_came_from_are_reported(
    tmp_path: Path,
    emulator: Emulator,
    args: list[str],
    env: dict[str, str],
    region: str,
    origin: str,
) -> None:
    """Credentials from the aliyun CLI profile bring its region, as the CLI itself does."""
    _profile(
        tmp_path / "home",
        access_key_id="gate-test-id",
        access_key_secret="gate-test-secret",
        region_id="ap-southeast-1",
    )
    run = run_gate(tmp_path, "--endpoint", emulator.url, *args, env=env)
    assert run.code in (0, 1), run.stderr
    source = json.loads((tmp_path / "report.json").read_text())["source"]
    assert source["region"] == region
    assert source["region_origin"] == origin


def test_an_unknown_region_id_is_a_warning_in_the_reports(
    tmp_path: Path, emulator: Emulator
) -> None:
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "gate-test-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "gate-test-secret",
    }
    run = run_gate(tmp_path, "--endpoint", emulator.url, "--region", "cn-hanzhou", env=env)
    assert run.code in (0, 1), run.stderr
    warnings = json.loads((tmp_path / "report.json").read_text())["warnings"]
    assert any("cn-hanzhou" in w and "cn-hangzhou" in w for w in warnings)
