"""Run the gate's benchmarks side by side with their baselines and print one table.

    python benchmarks/run.py                 # the targets of issues 5 and 9 (several minutes)
    python benchmarks/run.py --profile failing   # only the failure-heavy ranking
    python benchmarks/run.py --repeats 9     # more repeats of the large runs
    python benchmarks/run.py --quick         # smoke test: tiny sizes, one repeat

Every scenario runs the gate as a fresh process (``gate`` beside this Python, else
``python -m gate``) and its baseline right after it, alternating, so both see the same
machine; the table shows medians and their ratio against the target. Peak memory is the
child's own maximum resident set size (``os.wait4``). Snapshots come from
``benchmarks/generate.py`` (seeded) and are kept in ``benchmarks/out/`` (git-ignored).

Two ranking profiles are measured side by side (``generate.py --profile``): ``typical``, where
about one image in seven breaks a rule, and ``failing``, a risk ranking where most images break
several. For each: ``--quiet`` and ``--json --junit`` against jq, the JUnit file's bytes,
element nodes and cases against GitLab's limits (also at ``--huge`` images, 300,000 by
default), peak memory, and growth from ``--small`` to ``--large`` images. The noise column is
the fastest and slowest run against the median.

The ``jq`` baseline is ``benchmarks/check.jq``: the check people write today, with the same
ten conditions as ``benchmarks/policy.yaml``. ``--quick`` sizes are far too small for the
targets to mean anything; it only proves every scenario runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402

GENERATOR_VERSION = 1  # the typical profile's bytes are unchanged by the failing one
POLICY = HERE / "policy.yaml"
JQ_CHECK = HERE / "check.jq"
DEMO = HERE.parent / "gate" / "data" / "demo-response.json"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    exit_code: int
    cpu: float = 0.0  # user + system seconds of the child: steadier than wall time when shared


@dataclass(frozen=True)
class Row:
    scenario: str
    measured: str
    baseline: str
    ratio: float | None
    target: float
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.ratio is None:
            return "n/a"
        return "PASS" if self.ratio <= self.target else "MISS"


def run(
    command: Sequence[str], *, expect: Sequence[int] = (0,), env: dict[str, str] | None = None
) -> Run:
    """Run ``command`` once; wall time and the child's own peak RSS."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in expect:
            errors.seek(0)
            detail = errors.read().decode("utf-8", "replace")[-2000:]
            raise SystemExit(f"{' '.join(command)} exited {code} (expected {expect}):\n{detail}")
    return Run(seconds, usage.ru_maxrss / 1024, code, usage.ru_utime + usage.ru_stime)


def paired(
    first: Callable[[], Run], second: Callable[[], Run], repeats: int
) -> tuple[list[Run], list[Run]]:
    """Alternate two measurements ``repeats`` times, after one untimed warm-up of each."""
    first()
    second()
    a: list[Run] = []
    b: list[Run] = []
    for _ in range(repeats):
        a.append(first())
        b.append(second())
    return a, b


def median(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def compile_gate() -> None:
    """Write the package's bytecode, as installing it does (PYTHONDONTWRITEBYTECODE is common
    in development shells and would make every run compile the edited modules again)."""
    import compileall

    import gate

    compileall.compile_dir(Path(gate.__file__).parent, quiet=1)


def gate_command() -> list[str]:
    script = Path(sys.executable).with_name("gate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gate"]


def snapshot(out: Path, images: int, profile: str = "typical") -> Path:
    path = out / f"snapshot-{profile}-{images}-v{GENERATOR_VERSION}.json"
    if not path.exists():
        partial = path.with_suffix(".partial")
        generate(images, partial, seed=1, profile=profile)
        partial.replace(path)
    return path


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def spread(runs: list[Run]) -> str:
    """How noisy the runs were: their range around the median, in per cent."""
    if len(runs) < 2:
        return ""
    values = [r.seconds for r in runs]
    middle = statistics.median(values)
    return f"{(min(values) - middle) / middle:+.0%}/{(max(values) - middle) / middle:+.0%}"


@dataclass(frozen=True)
class JunitShape:
    """What GitLab looks at in a JUnit file: bytes, element nodes, test cases."""

    size: int
    elements: int
    cases: int
    failures: int

    @classmethod
    def of(cls, path: Path) -> JunitShape:
        import xml.etree.ElementTree as ET

        elements = cases = failures = 0
        for _, element in ET.iterparse(path, events=("start",)):
            elements += 1
            cases += element.tag == "testcase"
            failures += element.tag == "failure"
        return cls(path.stat().st_size, elements, cases, failures)


#: Targets per profile: (--quiet vs jq, --json --junit vs jq).
TARGETS = {"typical": (0.75, 1.25), "failing": (0.5, 1.0)}
PROFILE_LABELS = {"typical": "typical (1 in 7 fail)", "failing": "failure-heavy"}
JUNIT_MAX_BYTES = 20_000_000
JUNIT_MAX_ELEMENTS = 200_000
JUNIT_MAX_CASES = 500_000  # GitLab's


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of the large runs")
    parser.add_argument(
        "--cold-repeats", type=int, default=25, help="timed runs of the (short) cold starts"
    )
    parser.add_argument("--large", type=int, default=100_000, help="images in the large run")
    parser.add_argument("--small", type=int, default=10_000, help="images in the growth base")
    parser.add_argument(
        "--huge", type=int, default=300_000, help="images in the JUnit-limits run (0: skip)"
    )
    parser.add_argument(
        "--profile",
        action="append",
        choices=sorted(TARGETS),
        help="run only this ranking profile (repeatable; default: both)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="snapshots and reports")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.cold_repeats = 1, 1
        args.large, args.small = min(args.large, 2000), min(args.small, 200)
        args.huge = min(args.huge, 3000)
    profiles: list[str] = args.profile or ["typical", "failing"]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    compile_gate()
    gate = gate_command()
    python = [sys.executable]
    # Policy-validation markers (gate.policy.cache) go to out/, not the user's cache.
    cached = {**os.environ, "GATE_CACHE_DIR": str(out / "cache")}
    uncached = {**os.environ, "GATE_CACHE_DIR": ""}
    jq = shutil.which("jq")
    repeats = args.repeats

    print(f"gate: {' '.join(gate)}; python: {sys.executable}; jq: {jq or 'not found'}")
    cold = args.cold_repeats
    print(f"repeats: {cold} cold starts, {repeats} large runs (medians shown)")
    print(f"large: {args.large} images, small: {args.small}, JUnit limits: {args.huge}")
    rows: list[Row] = []

    def row(name: str, a: list[Run], b: list[Run], target: float, note: str = "") -> None:
        ra, rb = median(a), median(b)
        rows.append(Row(name, ms(ra), ms(rb), ra / rb, target, note))

    # Cold starts: the demo response is the small sample; the console report is printed.
    check_small = [*gate, "check", "--snapshot", str(DEMO), "--all-namespaces"]
    imports = [*python, "-c", "import click, yaml, jsonschema"]
    a, b = paired(lambda: run(check_small, expect=(1,), env=cached), lambda: run(imports), cold)
    row("check --snapshot, small sample (cold)", a, b, 1.3, "vs import click, yaml, jsonschema")
    a, b = paired(lambda: run(check_small, expect=(1,), env=uncached), lambda: run(imports), cold)
    row("the same, policy cache off", a, b, 1.3, "GATE_CACHE_DIR= : validates with jsonschema")
    a, b = paired(
        lambda: run([*gate, "--help"], env=cached),
        lambda: run([*python, "-c", "import click"]),
        cold,
    )
    row("gate --help (cold)", a, b, 1.3, "vs import click")

    def check(path: Path, *extra: str) -> Callable[[], Run]:
        command = [*gate, "check", "--snapshot", str(path), "--policy", str(POLICY)]
        return lambda: run(
            [*command, "--all-namespaces", "--quiet", *extra], expect=(0, 1), env=cached
        )

    side: dict[str, dict[str, Row]] = {}
    for profile in profiles:
        side[profile] = measure_profile(profile, args, out, check, jq)

    print()
    print(table(rows))
    print()
    print(side_by_side(side, profiles))
    if args.quick:
        print("\n--quick: sizes are far too small for the targets to mean anything.")
    return 0


def measure_profile(
    profile: str,
    args: argparse.Namespace,
    out: Path,
    check: Callable[..., Callable[[], Run]],
    jq: str | None,
) -> dict[str, Row]:
    """The large-ranking rows of one profile, by scenario."""
    repeats = args.repeats
    large = snapshot(out, args.large, profile)
    small = snapshot(out, args.small, profile)
    size_mb = large.stat().st_size / 1e6
    print(f"{profile}: {large} ({size_mb:.1f} MB), {small}", flush=True)
    quiet_target, full_target = TARGETS[profile]
    xml = out / f"report-{profile}.xml"
    reports = ("--json", str(out / f"report-{profile}.json"), "--junit", str(xml))
    rows: dict[str, Row] = {}

    def timed(name: str, a: list[Run], b: list[Run], target: float) -> None:
        ra, rb = median(a), median(b)
        cpu = statistics.median(r.cpu for r in a) / statistics.median(r.cpu for r in b)
        noise = f"gate {spread(a)}, jq {spread(b)}; " if spread(a) else ""
        rows[name] = Row(name, ms(ra), ms(rb), ra / rb, target, f"{noise}CPU-time ratio {cpu:.2f}")

    quiet_name = f"{args.large:,} images x 10 rules, --quiet (vs jq)"
    full_name = f"{args.large:,} images, --json and --junit (vs jq)"
    if jq is not None:
        jq_check = lambda: run([jq, "-e", "-f", str(JQ_CHECK), str(large)], expect=(0, 1))  # noqa: E731
        quiet, jq_runs = paired(check(large), jq_check, repeats)
        if {r.exit_code for r in quiet} != {r.exit_code for r in jq_runs}:
            raise SystemExit(f"{profile}: the gate and the jq check disagree about the verdict")
        timed(quiet_name, quiet, jq_runs, quiet_target)
        full, jq_runs = paired(check(large, *reports), jq_check, repeats)
        timed(full_name, full, jq_runs, full_target)
    else:
        quiet = [check(large)() for _ in range(repeats)]
        full = [check(large, *reports)() for _ in range(repeats)]
        for name in (quiet_name, full_name):
            rows[name] = Row(name, ms(median(quiet)), "-", None, 0, "jq not found")
    junit_rows(rows, f"{args.large:,} images", JunitShape.of(xml))
    peak = max(r.peak_mb for r in (*quiet, *full))
    name = "peak memory vs snapshot size on disk"
    rows[name] = Row(name, f"{peak:.0f} MB", f"{size_mb:.0f} MB", peak / size_mb, 3.0)
    small_runs = [check(small)() for _ in range(repeats)]
    name = f"growth {args.small:,} -> {args.large:,} images, --quiet"
    rows[name] = Row(
        name,
        ms(median(quiet)),
        ms(median(small_runs)),
        median(quiet) / median(small_runs),
        11 * args.large / args.small / 10,
    )
    if args.huge:
        huge = snapshot(out, args.huge, profile)
        huge_xml = out / f"report-{profile}-{args.huge}.xml"
        check(huge, "--junit", str(huge_xml))()  # default limits: the run's own JUnit file
        junit_rows(rows, f"{args.huge:,} images", JunitShape.of(huge_xml))
    return rows


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"


def junit_rows(rows: dict[str, Row], label: str, shape: JunitShape) -> None:
    """The JUnit file against the limits: bytes, element nodes (GitLab 17.6+) and cases."""
    for name, measured, limit, ratio in (
        (
            f"JUnit at {label}: size",
            megabytes(shape.size),
            "20 MB",
            shape.size / JUNIT_MAX_BYTES,
        ),
        (
            f"JUnit at {label}: element nodes",
            f"{shape.elements:,}",
            f"{JUNIT_MAX_ELEMENTS:,}",
            shape.elements / JUNIT_MAX_ELEMENTS,
        ),
        (
            f"JUnit at {label}: test cases",
            f"{shape.cases:,}",
            f"{JUNIT_MAX_CASES:,}",
            shape.cases / JUNIT_MAX_CASES,
        ),
    ):
        rows[name] = Row(name, measured, limit, ratio, 1.0)


def side_by_side(side: dict[str, dict[str, Row]], profiles: Sequence[str]) -> str:
    """One line per scenario, the profiles next to each other: gate / baseline, ratio, target."""
    names = list(dict.fromkeys(name for p in profiles for name in side[p]))
    header = ["scenario"]
    for profile in profiles:
        label = PROFILE_LABELS[profile]
        header += [f"{label}: gate / baseline", "ratio", "target", "result"]
    header.append("note (noise: fastest/slowest run vs the median)")
    body = []
    for name in names:
        line = [name]
        notes = []
        for profile in profiles:
            r = side[profile].get(name)
            if r is None:
                line += ["-", "-", "-", "-"]
                continue
            line += [
                f"{r.measured} / {r.baseline}",
                "-" if r.ratio is None else f"{r.ratio:.2f}",
                f"<= {r.target:g}",
                r.verdict,
            ]
            if r.note:
                notes.append(f"{profile}: {r.note}" if len(profiles) > 1 else r.note)
        line.append("; ".join(notes))
        body.append(tuple(line))
    return _grid(tuple(header), body)


def table(rows: Sequence[Row]) -> str:
    header = ("scenario", "gate", "baseline", "ratio", "target", "result", "note")
    body = [
        (
            r.scenario,
            r.measured,
            r.baseline,
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            f"<= {r.target:g}",
            r.verdict,
            r.note,
        )
        for r in rows
    ]
    return _grid(header, body)


def _grid(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in body:
        cells = (c.ljust(w) for c, w in zip(line, widths, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
