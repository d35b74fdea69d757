"""Run the gate's benchmarks side by side with their baselines and print one table.

    python benchmarks/run.py                 # the targets of issue 5 (a few minutes)
    python benchmarks/run.py --repeats 9     # more repeats of the large runs
    python benchmarks/run.py --quick         # smoke test: tiny sizes, one repeat

Every scenario runs the gate as a fresh process (``gate`` beside this Python, else
``python -m gate``) and its baseline right after it, alternating, so both see the same
machine; the table shows medians and their ratio against the target. Peak memory is the
child's own maximum resident set size (``os.wait4``). Snapshots come from
``benchmarks/generate.py`` (seeded) and are kept in ``benchmarks/out/`` (git-ignored).

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

GENERATOR_VERSION = 1
POLICY = HERE / "policy.yaml"
JQ_CHECK = HERE / "check.jq"
DEMO = HERE.parent / "gate" / "data" / "demo-response.json"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    exit_code: int


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
    return Run(seconds, usage.ru_maxrss / 1024, code)


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


def snapshot(out: Path, images: int) -> Path:
    path = out / f"snapshot-{images}-v{GENERATOR_VERSION}.json"
    if not path.exists():
        partial = path.with_suffix(".partial")
        generate(images, partial, seed=1)
        partial.replace(path)
    return path


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of the large runs")
    parser.add_argument(
        "--cold-repeats", type=int, default=25, help="timed runs of the (short) cold starts"
    )
    parser.add_argument("--large", type=int, default=100_000, help="images in the large run")
    parser.add_argument("--small", type=int, default=10_000, help="images in the growth base")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="snapshots and reports")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.cold_repeats = 1, 1
        args.large, args.small = min(args.large, 2000), min(args.small, 200)
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
    print(f"large: {args.large} images, small: {args.small}")
    large = snapshot(out, args.large)
    small = snapshot(out, args.small)
    size_mb = large.stat().st_size / 1e6
    print(f"snapshots: {large} ({size_mb:.1f} MB), {small}")
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

    reports = ("--json", str(out / "report.json"), "--junit", str(out / "report.xml"))
    if jq is not None:
        jq_check = lambda: run([jq, "-e", "-f", str(JQ_CHECK), str(large)], expect=(0, 1))  # noqa: E731
        quiet, jq_runs = paired(check(large), jq_check, repeats)
        if {r.exit_code for r in quiet} != {r.exit_code for r in jq_runs}:
            raise SystemExit("the gate and the jq check disagree about the verdict")
        row(f"{args.large:,} images x 10 rules, --quiet", quiet, jq_runs, 0.75, "vs jq check")
        full, jq_runs = paired(check(large, *reports), jq_check, repeats)
        row(f"{args.large:,} images, --json and --junit", full, jq_runs, 1.25, "vs jq check")
    else:
        quiet = [check(large)() for _ in range(repeats)]
        full = [check(large, *reports)() for _ in range(repeats)]
        for name in ("--quiet", "--json and --junit"):
            rows.append(Row(f"{args.large:,} images, {name}", "-", "-", None, 0, "jq not found"))
    peak = max(r.peak_mb for r in (*quiet, *full))
    rows.append(
        Row(
            "peak memory vs snapshot size on disk",
            f"{peak:.0f} MB",
            f"{size_mb:.0f} MB",
            peak / size_mb,
            3.0,
            "largest RSS of the two runs above",
        )
    )
    small_runs = [check(small)() for _ in range(repeats)]
    rows.append(
        Row(
            f"growth {args.small:,} -> {args.large:,} images, --quiet",
            ms(median(quiet)),
            ms(median(small_runs)),
            median(quiet) / median(small_runs),
            11 * args.large / args.small / 10,
            "time ratio; linear is 10",
        )
    )
    print()
    print(table(rows))
    if args.quick:
        print("\n--quick: sizes are far too small for the targets to mean anything.")
    return 0


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
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in body:
        cells = (c.ljust(w) for c, w in zip(line, widths, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
