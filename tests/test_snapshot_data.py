"""Crafted or corrupted snapshots never pass: each ends in exit 3 (or 2) or blocks the gate.

Every case runs the installed ``gate check --snapshot`` as a user runs it, and checks the one
line a person reads: no traceback, no internal error, no signal death.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gate_command, image_entry, ranking_body

POLICY = """\
version: 1
name: team
rules:
  - {id: urgent, fail_if: imageVulAsap > 0}
"""
FULL = "d97c1348e56eb52902888e6e5673623321b1f19ac45ed532c3114dc0f989" + "a1b2"
MASKED = FULL[:60] + "****"


def run(
    tmp_path: Path,
    snapshot: str | bytes | None,
    *args: str,
    env: dict[str, str] | None = None,
    policy_text: str = POLICY,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """``gate check --snapshot FILE --policy team.yaml ARGS`` (``snapshot`` None: pass ARGS)."""
    policy = tmp_path / "team.yaml"
    policy.write_text(policy_text)
    command = [*gate_command(), "check", "--policy", str(policy)]
    if snapshot is not None:
        path = tmp_path / "ranking.json"
        if isinstance(snapshot, bytes):
            path.write_bytes(snapshot)
        else:
            path.write_text(snapshot, encoding="utf-8")
        command += ["--snapshot", str(path)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "GITHUB_", "CI"))}
    done = subprocess.run(
        [*command, *args],
        cwd=tmp_path,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "internal error" not in done.stderr.lower(), done.stderr
    assert done.returncode >= 0, f"killed by signal {-done.returncode}"
    return done


def detail(asap: Any) -> str:
    return json.dumps({"imageVulAsap": asap, "imageVulLater": 0})


def body_text(
    entries: list[str], wrap: str = '{{"RequestId": "R", "RiskRankInfo": {{"VulAsap": [{}]}}}}'
) -> str:
    return wrap.format(", ".join(entries))


def clean_entry(**fields: Any) -> str:
    return json.dumps(image_entry("prod", "api", detail={"imageVulAsap": 0}, **fields))


# --- A. duplicate keys -------------------------------------------------------------------

# The counter's real value (9) comes first; the repeat (0) would silently win.
HIDDEN_IN_DETAIL = '{"imageVulAsap":9,"imageVulLater":0,"imageVulAsap":0}'


def test_a_duplicate_key_inside_risk_level_detail_blocks(tmp_path: Path) -> None:
    entries = [clean_entry(Tag=f"v{n}") for n in range(10)]  # teach the fast path the shape
    hidden = image_entry("prod", "api", "hidden", detail=HIDDEN_IN_DETAIL)
    done = run(tmp_path, body_text([*entries, json.dumps(hidden)]), "--all-namespaces")
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'RiskLevelDetail names the key "imageVulAsap" twice' in done.stdout


def test_a_duplicate_inside_a_learnt_detail_shape_cannot_use_the_template(tmp_path: Path) -> None:
    """The same keys and order as the learnt shape, plus one repeated key at the end."""
    shape = '{"imageVulAsap":0,"imageVulLater":0}'
    entries = [json.dumps(image_entry("prod", "api", f"v{n}", detail=shape)) for n in range(10)]
    sneaky = '{"imageVulAsap":0,"imageVulLater":0,"imageVulAsap":5}'
    hidden = json.dumps(image_entry("prod", "api", "hidden", detail=sneaky))
    done = run(tmp_path, body_text([*entries, hidden]), "--all-namespaces")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "names the key" in done.stdout


@pytest.mark.parametrize(
    "text",
    [
        # in an image record: a second RiskLevelDetail hides the first
        body_text(
            [clean_entry()[:-1] + f', "RiskLevelDetail": {json.dumps(detail(9))}' + "}"]
        ).replace(json.dumps(detail(9)), json.dumps(detail(9)), 1),
        # in RiskRankInfo: an empty VulAsap list after the real one
        body_text(
            [clean_entry()],
            wrap='{{"RequestId": "R", "RiskRankInfo": {{"VulAsap": [{}], "VulAsap": []}}}}',
        ),
        # in the envelope: a second response
        '{"gate_snapshot": 1, "response": {"RiskRankInfo": {"VulAsap": []}}, '
        '"response": {"RiskRankInfo": {"VulAsap": []}}}',
    ],
    ids=["image-record", "RiskRankInfo", "envelope"],
)
def test_a_duplicate_key_in_the_body_is_a_data_error(tmp_path: Path, text: str) -> None:
    done = run(tmp_path, text, "--all-namespaces")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "twice" in done.stderr
    assert "nothing was evaluated" in done.stderr


def test_the_image_record_duplicate_case_really_repeats_a_key() -> None:
    record = json.loads(clean_entry())
    assert "RiskLevelDetail" in record  # (the case above appends a second one)


# --- A. counters that are not exact whole numbers ------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ['"3e-999999"', "1e-400", '"1' + "0" * 5000 + '"', "2.5", "3.0000000000000001"],
    ids=["string-underflow", "number-underflow", "5000-digit-string", "fraction", "rounds"],
)
def test_a_counter_that_is_not_an_exact_whole_number_blocks(tmp_path: Path, raw: str) -> None:
    text = '{"imageVulAsap":' + raw + ',"imageVulLater":0}'
    entry = image_entry("prod", "api", detail=text)
    done = run(tmp_path, body_text([json.dumps(entry)]), "--all-namespaces")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot evaluate: imageVulAsap" in done.stdout


@pytest.mark.parametrize("raw", ["3.0", '"3"', "3e0"])
def test_counters_written_as_whole_floats_or_strings_are_read(tmp_path: Path, raw: str) -> None:
    entry = image_entry("prod", "api", detail='{"imageVulAsap":' + raw + "}")
    done = run(tmp_path, body_text([json.dumps(entry)]), "--all-namespaces")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "imageVulAsap = 3" in done.stdout or "imageVulAsap 3" in done.stdout.replace("=", "")


def test_a_number_with_thousands_of_digits_in_the_body_is_a_data_error(tmp_path: Path) -> None:
    entry = clean_entry()[:-1] + ', "VulCount": 1' + "0" * 5000 + "}"
    done = run(tmp_path, body_text([entry]), "--all-namespaces")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "thousands of digits" in done.stderr


# --- A. an error answer beside RiskRankInfo ----------------------------------------------


@pytest.mark.parametrize(
    ("extra", "shown"),
    [
        (
            {"Code": "Throttling.User", "Message": "Request was denied\n\x1b[31mred"},
            "Throttling.User: Request was denied red",
        ),
        ({"Success": False, "Message": "partial"}, "partial"),
        ({"Code": 500}, ": 500"),
    ],
    ids=["code", "success-false", "numeric-code"],
)
def test_an_error_answer_beside_a_ranking_is_a_data_error(
    tmp_path: Path, extra: dict[str, Any], shown: str
) -> None:
    body = {**ranking_body([image_entry("prod", "api")]), **extra}
    done = run(tmp_path, json.dumps(body), "--all-namespaces")
    assert done.returncode == 3, done.stdout + done.stderr
    first = done.stderr.splitlines()[0]
    assert "holds an API error, not a ranking" in first
    assert shown in first
    assert "\x1b" not in done.stderr


def test_a_success_code_beside_a_ranking_is_read(tmp_path: Path) -> None:
    body = {**ranking_body([image_entry("prod", "api")]), "Code": "200", "Success": True}
    assert run(tmp_path, json.dumps(body), "--all-namespaces").returncode == 0


# --- B. records without a namespace -------------------------------------------------------


@pytest.mark.parametrize(
    "namespace", [None, 7, "", "absent"], ids=["null", "number", "empty", "missing"]
)
def test_a_record_without_a_namespace_is_selected_and_errors(
    tmp_path: Path, namespace: Any
) -> None:
    bad = image_entry("x", "api", "v2", detail={"imageVulAsap": 0})
    if namespace == "absent":
        del bad["RepoNamespace"]
    else:
        bad["RepoNamespace"] = namespace
    body = ranking_body([image_entry("prod", "api"), bad])
    done = run(tmp_path, json.dumps(body), "--namespace", "prod")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "<missing namespace>/api:v2" in done.stdout
    assert "RepoNamespace" in done.stdout


def test_a_record_without_a_namespace_is_in_a_scoped_policy(tmp_path: Path) -> None:
    bad = image_entry("x", "api", "v2", detail={"imageVulAsap": 0})
    bad["RepoNamespace"] = None
    scoped = (
        "version: 1\nname: scoped\nscope:\n  namespaces: [prod]\n"
        "  exclude: ['prod/api:v2']\nrules:\n  - {id: urgent, fail_if: imageVulAsap > 0}\n"
    )
    body = json.dumps(ranking_body([image_entry("prod", "api"), bad]))
    done = run(tmp_path, body, "--all-namespaces", policy_text=scoped)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "<missing namespace>/api:v2" in done.stdout
    assert "outside the scope" not in done.stdout


def test_a_record_without_a_namespace_is_taken_by_an_image_reference(tmp_path: Path) -> None:
    bad = image_entry("x", "api", "v2", detail={"imageVulAsap": 0})
    bad["RepoNamespace"] = None
    body = ranking_body([image_entry("prod", "api"), bad])
    done = run(tmp_path, json.dumps(body), "--image", "prod/api:v2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "<missing namespace>/api:v2" in done.stdout


# --- C. crashes and resources --------------------------------------------------------------


def test_snapshot_from_a_closed_stdin_is_a_usage_error(tmp_path: Path) -> None:
    policy = tmp_path / "team.yaml"
    policy.write_text(POLICY)
    command = [*gate_command(), "check", "--policy", str(policy), "--snapshot", "-"]
    done = subprocess.run(
        [*command, "--all-namespaces"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.close(0),  # the shell's <&-
    )
    assert done.returncode == 2, done.stderr
    assert "standard input, which is closed" in done.stderr
    assert "Traceback" not in done.stderr


def test_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    done = run(tmp_path, None, "--snapshot", "/dev/zero", "--all-namespaces")
    assert done.returncode == 3, done.stderr
    assert "/dev/zero is not valid JSON" in done.stderr


def test_an_endless_pipe_stops_at_the_size_limit(tmp_path: Path) -> None:
    """A stream that looks like JSON and never ends: refused at GATE_MAX_SNAPSHOT_MB."""
    feeder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nsys.stdout.write('{')\nwhile True: sys.stdout.write(' ' * 65536)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        done = run(
            tmp_path,
            None,
            "--snapshot",
            "-",
            "--all-namespaces",
            env={"GATE_MAX_SNAPSHOT_MB": "2"},
            stdin=feeder.stdout,
        )
    finally:
        feeder.kill()
        feeder.wait()
    assert done.returncode == 3, done.stderr
    assert "standard input is larger than 2 MB" in done.stderr
    assert "--max-snapshot-mb" in done.stderr


def test_a_file_over_the_size_limit_is_a_data_error(tmp_path: Path) -> None:
    entries = [clean_entry(Tag=f"v{n}") for n in range(4000)]
    assert 1 << 20 < len(body_text(entries)) < 2 << 20
    done = run(tmp_path, body_text(entries), "--all-namespaces", env={"GATE_MAX_SNAPSHOT_MB": "1"})
    assert done.returncode == 3, done.stderr
    assert "is larger than 1 MB" in done.stderr
    ok = run(tmp_path, body_text(entries), "--all-namespaces", env={"GATE_MAX_SNAPSHOT_MB": "2"})
    assert ok.returncode == 0, ok.stderr


def test_the_snapshot_path_does_not_map_the_file(tmp_path: Path) -> None:
    """A file truncated while memory-mapped kills the reader with SIGBUS: it is read instead."""
    done = run(
        tmp_path,
        json.dumps(ranking_body([image_entry("prod", "api")])),
        "--all-namespaces",
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "mmap" not in imported


def test_a_snapshot_truncated_while_it_is_read_is_a_clean_error(tmp_path: Path) -> None:
    """Truncate the file over and over while the gate reads it: never a signal death."""
    entries = [clean_entry(Tag=f"v{n}") for n in range(30000)]
    full = body_text(entries).encode()
    path = tmp_path / "shrinking.json"
    stop = threading.Event()

    def shrink() -> None:
        while not stop.is_set():
            path.write_bytes(full)
            with open(path, "r+b") as handle:
                handle.truncate(len(full) // 3)

    path.write_bytes(full)
    worker = threading.Thread(target=shrink)
    worker.start()
    try:
        for _ in range(5):
            done = run(tmp_path, None, "--snapshot", str(path), "--all-namespaces")
            assert done.returncode in (0, 3), done.stderr
            assert done.returncode != -signal.SIGBUS
    finally:
        stop.set()
        worker.join()


@pytest.mark.parametrize("where", ["body", "detail"])
def test_deeply_nested_json_is_handled(tmp_path: Path, where: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    if where == "body":
        text = body_text([clean_entry()[:-1] + f', "Extra": {deep}' + "}"])
        done = run(tmp_path, text, "--all-namespaces")
        assert done.returncode == 3, done.stderr
        assert "not valid JSON" in done.stderr
    else:
        entry = image_entry("prod", "api", detail='{"imageVulAsap":' + deep + "}")
        done = run(tmp_path, body_text([json.dumps(entry)]), "--all-namespaces")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "cannot evaluate" in done.stdout


def test_a_deeply_nested_name_does_not_crash(tmp_path: Path) -> None:
    deep = "[" * 500 + "]" * 500
    text = body_text([clean_entry()[:-1] + f', "Tag": {deep}' + "}"])
    done = run(tmp_path, text.replace('"Tag": "v1", ', ""), "--all-namespaces", "--json", "-")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["images"][0]["tag"] == "(an array)"


@pytest.mark.parametrize("age", ["99999999999d", "1" * 5000 + "d", "36501d"])
def test_an_enormous_max_age_is_a_usage_error(tmp_path: Path, age: str) -> None:
    done = run(tmp_path, json.dumps(ranking_body()), "--all-namespaces", "--max-age", age)
    assert done.returncode == 2, done.stderr
    assert "too long a duration" in done.stderr
    assert len(done.stderr) < 400


@pytest.mark.parametrize(
    ("document", "term"),
    [
        ("null", "is null, not an object"),
        ("[1]", "is an array, not an object"),
        ('{"RiskRankInfo": {"VulAsap": {"a": 1}}}', "is an object, not an array"),
        ('{"RiskRankInfo": {"VulAsap": [null]}}', "is null, not an image object"),
        ('{"gate_snapshot": 1, "response": "x"}', "(it is a string)"),
    ],
)
def test_data_errors_speak_json(tmp_path: Path, document: str, term: str) -> None:
    done = run(tmp_path, document, "--all-namespaces")
    assert done.returncode == 3, done.stderr
    assert term in done.stderr
    for python in ("NoneType", "dict", "list", " str,"):
        assert python not in done.stderr


def test_a_detail_of_the_wrong_kind_speaks_json(tmp_path: Path) -> None:
    entry = image_entry("prod", "api", detail=None)
    entry["RiskLevelDetail"] = {"imageVulAsap": [1]}
    done = run(tmp_path, json.dumps(ranking_body([entry])), "--all-namespaces")
    assert done.returncode == 1, done.stdout
    assert "imageVulAsap is not a number: an array" in done.stdout


# --- D. an SDK response.to_map() -------------------------------------------------------


def sdk(body: Any, status: Any = 200) -> str:
    return json.dumps({"headers": {"x-acs-request-id": "R"}, "statusCode": status, "body": body})


def test_an_sdk_response_is_unwrapped_and_says_so(tmp_path: Path) -> None:
    bad = image_entry("prod", "api", detail={"imageVulAsap": 4})
    done = run(tmp_path, sdk(ranking_body([bad])), "--all-namespaces")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "prod/api:v1" in done.stdout
    assert "SDK response (response.to_map())" in done.stdout


@pytest.mark.parametrize(
    ("document", "shown"),
    [
        (sdk({"Code": "Forbidden.NoPermission", "Message": "no"}, 403), "HTTP status 403"),
        (sdk({"Code": "Throttling", "Message": "slow down", **ranking_body()}), "Throttling"),
        (sdk([1]), "its 'body' is an array"),
    ],
    ids=["status-403", "error-body", "body-array"],
)
def test_an_sdk_error_response_is_a_data_error(tmp_path: Path, document: str, shown: str) -> None:
    done = run(tmp_path, document, "--all-namespaces")
    assert done.returncode == 3, done.stderr
    assert shown in done.stderr.splitlines()[0]


# --- E. masked digests ----------------------------------------------------------------------


def masked_body(digest: str = MASKED, asap: int = 4) -> str:
    image = image_entry("prod", "api", "v1", digest=digest, detail={"imageVulAsap": asap})
    return json.dumps(ranking_body([image]))


def test_an_image_reference_matches_a_masked_digest_and_says_so(tmp_path: Path) -> None:
    done = run(tmp_path, masked_body(), "--image", f"prod/api@sha256:{FULL}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not in the Security Center ranking" not in done.stdout
    assert "masked digest" in done.stdout
    assert "first 60 hex digits" in done.stdout


@pytest.mark.parametrize(
    "digest",
    [
        "e" + FULL[1:60] + "****",  # another image: the visible prefix differs
        FULL[:8] + "*" * 56,  # too little is visible to tell images apart
        FULL[:30] + "****" + FULL[34:],  # masked in the middle
    ],
    ids=["other-prefix", "too-short", "middle"],
)
def test_a_masked_digest_never_matches_another_image(tmp_path: Path, digest: str) -> None:
    done = run(
        tmp_path, masked_body(digest), "--image", f"prod/api@sha256:{FULL}", "--unranked", "fail"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not in the Security Center ranking" in done.stdout
    assert "masked digest" not in done.stdout
