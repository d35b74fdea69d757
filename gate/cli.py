"""The command line: reads flags, wires the pieces together, prints, and exits.

This is the only module that exits. Library errors arrive as :class:`gate.errors.GateError`
and are turned into one message and a documented exit code here. Heavy modules are imported
inside the commands that need them, so ``gate --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from gate import __version__
from gate.errors import EXIT_USAGE, GateError, OutputError, PolicyError, SourceError, UsageError

if TYPE_CHECKING:
    import datetime as dt

    from gate.imageref import ImageRef
    from gate.model import Image, Policy, Report, SourceInfo
    from gate.source.snapshot import Snapshot

F = TypeVar("F", bound=Callable[..., Any])

# The JUnit size limits (gate.report.junit has the same defaults; not imported for --help's sake).
JUNIT_MAX_BYTES = 20_000_000
JUNIT_MAX_CASES = 200_000

EXIT_CODES = """\b
Exit codes:
  0  the gate passed (warnings, waivers and overrides allowed)
  1  the gate failed (a blocking result, or --require-images with nothing evaluated)
  2  usage or policy error (nothing was evaluated)
  3  the ranking could not be obtained or read (nothing was evaluated)"""

DEMO_BANNER = (
    "Demo: the bundled sample is the example response from the Security Center API\n"
    "reference, checked against the bundled default policy. The sample has urgent\n"
    "vulnerabilities, so this demo is expected to BLOCK (exit 1)."
)
DEMO_BANNER_OWN_POLICIES = (
    "Demo: the bundled sample is the example response from the Security Center API\n"
    "reference, checked against the policies you gave with --policy."
)


def _fail(error: GateError) -> NoReturn:
    message = error.render()
    colour = _stderr_colour()
    click.echo(
        click.style("error: ", fg="red", bold=True) + message if colour else "error: " + message,
        err=True,
        color=colour,
    )
    sys.exit(error.exit_code)


def _stderr_colour() -> bool:
    return sys.stderr.isatty() and "NO_COLOR" not in os.environ


def handle_errors(func: F) -> F:
    """Convert the gate's error tree into a message and exit code, once, at the boundary."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GateError as error:
            _fail(error)

    return wrapper  # type: ignore[return-value]


def without_cyclic_gc(func: F) -> F:
    """Run a command with the cyclic garbage collector paused.

    A large run allocates millions of objects that form no cycles; the collector would scan
    them again and again and free nothing (2.7 s of a 5.5 s run at 100,000 images).
    Reference counting still frees everything as usual.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper  # type: ignore[return-value]


# Set by main(): the installed command may leave a large run without tearing it down.
_fast_exit = False
FAST_EXIT_CHECKS = 50_000


def _exit(code: int, *, large: bool) -> NoReturn:
    """Exit with ``code``. After a large run, everything is written and flushed, and freeing
    its millions of objects one by one would add a tenth of a second: leave at once."""
    if _fast_exit and large:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe: the code still counts
                stream.flush()
        os._exit(code)
    sys.exit(code)


def _on_terminate(signum: int, frame: object) -> None:
    # Unwind normally so temporary report files are removed. Exit 128+signal, never 0, and
    # never 1 (click's own Ctrl-C handling), which would read as "the gate blocked".
    if signum == signal.SIGINT:
        click.echo("interrupted", err=True)
    raise SystemExit(128 + signum)


def _columns() -> int:
    """The terminal's width as shutil.get_terminal_size() reports it."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    stream = sys.__stdout__
    if columns <= 0 and stream is not None:
        try:
            columns = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Context(click.Context):
    """Sizes help text without click importing shutil (4 ms of a 60 ms 'gate --help')."""

    def make_formatter(self) -> click.HelpFormatter:
        width = self.terminal_width or click.formatting.FORCED_WIDTH
        if width is None:
            width = max(min(_columns(), self.max_content_width or 80) - 2, 50)
        return self.formatter_class(width=width, max_width=self.max_content_width)


class _Command(click.Command):
    context_class = _Context


class _Group(click.Group):
    context_class = _Context
    command_class = _Command


@click.group(
    cls=_Group,
    epilog=EXIT_CODES,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="gate")
def cli() -> None:
    """Policy gate for container images ranked by Alibaba Cloud Security Center.

    Loads YAML policies, gets the image risk ranking (GetDockerhubImageRiskRankInfo) live
    or from a saved snapshot, evaluates every ranked image of the chosen namespaces against
    every rule, and reports as console text, JSON and JUnit XML.

    Start with 'gate check --demo'. Every option can also be set through the GATE_*
    environment variable shown in 'gate check --help'.
    """


# --- check -------------------------------------------------------------------------------


def _parse_now(value: str | None) -> dt.date:
    import datetime as dt  # not at the top: 'gate --help' has no use for it

    if value is None or not value.strip():
        return dt.datetime.now(dt.timezone.utc).date()
    try:
        text = value.strip()
        # fromisoformat also takes 20261128 and week dates (2026-W48-6): one spelling only.
        if len(text) != 10 or text[4] != "-" or text[7] != "-":
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--now {value!r} is not a date; write YYYY-MM-DD (e.g. 2026-11-28)"
        ) from None


def _load_policies(paths: Sequence[str]) -> tuple[Policy, ...]:
    from gate.policy import loader

    if paths:
        return loader.load_policies(paths)
    return loader.load_default()


def _demo_snapshot() -> Snapshot:
    from pathlib import Path

    from gate.source.snapshot import parse_snapshot

    # A plain file beside the package (importlib.resources costs 10 ms at start-up).
    data = (Path(__file__).parent / "data" / "demo-response.json").read_bytes()
    snapshot = parse_snapshot(data, "demo-response.json (bundled)", kind="demo")
    return snapshot


def live_options(func: F) -> F:
    """Options shared by every command that talks to the Security Center API."""
    options = [
        click.option(
            "--region",
            envvar=["GATE_REGION", "ALIBABA_CLOUD_REGION_ID"],
            default="cn-hangzhou",
            show_default=True,
            show_envvar=True,
            metavar="REGION",
            help="Region of the Security Center instance; picks the official endpoint.",
        ),
        click.option(
            "--endpoint",
            envvar="GATE_ENDPOINT",
            show_envvar=True,
            metavar="HOST|URL",
            help="Endpoint host or full URL, overriding --region "
            "(e.g. a VPC endpoint, or http://127.0.0.1:8080 for the emulator).",
        ),
        click.option(
            "--types",
            "types",
            envvar="GATE_TYPES",
            show_envvar=True,
            default="vulAsap,baseline",
            show_default=True,
            metavar="LIST",
            help="Ranking lists to request, comma-separated: vulAsap, baseline.",
        ),
        click.option(
            "--retries",
            type=click.IntRange(0, 10),
            default=3,
            show_default=True,
            envvar="GATE_RETRIES",
            show_envvar=True,
            help="Retries on connection errors, timeouts, 5xx and throttling.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(1, 3600),
            default=60.0,
            show_default=True,
            envvar="GATE_TIMEOUT",
            show_envvar=True,
            metavar="SECONDS",
            help="Overall deadline for the API call, retries included.",
        ),
        click.option(
            "--debug",
            is_flag=True,
            envvar="GATE_DEBUG",
            show_envvar=True,
            help="Log API requests and responses to stderr (secrets redacted).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _fetch_live(
    *, region: str, endpoint: str | None, types: str, retries: int, timeout: float, debug: bool
) -> Snapshot:
    from gate.model import SourceInfo
    from gate.source import api
    from gate.source.snapshot import Snapshot

    log = (lambda line: click.echo(f"debug: {line}", err=True)) if debug else None
    response = api.fetch_ranking(
        region=region,
        endpoint=endpoint,
        types=api.validate_types(t for t in types.split(",") if t.strip()),
        retries=retries,
        timeout=timeout,
        log=log,
    )
    info = SourceInfo(
        kind="api",
        region=response.region,
        endpoint=response.endpoint,
        request_id=response.request_id,
        fetched_at=response.fetched_at,
    )
    return Snapshot(body=response.body, info=info)


def _write_error_junit(path: str | None, error: GateError) -> None:
    if not path or path == "-":
        return
    from gate.report.files import write_atomic
    from gate.report.junit import error_report

    title = "gate/data-source" if isinstance(error, SourceError) else "gate/configuration"
    kinds = ((SourceError, "source"), (PolicyError, "policy"), (OutputError, "output"))
    kind = next(
        (f"gate.{k}-error" for cls, k in kinds if isinstance(error, cls)), "gate.usage-error"
    )
    # The original error is the one worth reporting, whatever happens to this file.
    with contextlib.suppress(GateError):
        write_atomic(path, error_report(error.render(), title=title, kind=kind))


def _write_error_json(path: str | None, error: GateError) -> None:
    """Replace a previous run's JSON report, so nothing downstream reads a stale verdict."""
    if not path:
        return
    from gate.report.files import write_atomic
    from gate.report.json_report import error_document

    with contextlib.suppress(GateError):
        write_atomic(path, error_document(error))


@cli.command(epilog=EXIT_CODES)
@click.option(
    "--policy",
    "-p",
    "policies",
    multiple=True,
    envvar="GATE_POLICY",
    show_envvar=True,
    metavar="PATH",
    type=click.Path(),
    help="Policy file or directory (*.yaml, *.yml). Repeatable. Default: the bundled "
    "policies/default.yaml.",
)
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    envvar="GATE_NAMESPACE",
    show_envvar=True,
    metavar="NS",
    help="Registry namespace to evaluate; globs allowed (prod-*). Repeatable.",
)
@click.option(
    "--all-namespaces",
    is_flag=True,
    envvar="GATE_ALL_NAMESPACES",
    show_envvar=True,
    help="Evaluate every ranked image.",
)
@click.option(
    "--image",
    "images",
    multiple=True,
    envvar="GATE_IMAGE",
    show_envvar=True,
    metavar="REF",
    help="Evaluate this image: [REGISTRY/]NAMESPACE/REPOSITORY[:TAG][@sha256:DIGEST] "
    "(no tag and no digest means :latest; with a digest, the digest is matched). Repeatable; "
    "needs no --namespace, and adds to it when both are given.",
)
@click.option(
    "--unranked",
    type=click.Choice(["pass", "warn", "fail"]),
    default="warn",
    show_default=True,
    envvar="GATE_UNRANKED",
    show_envvar=True,
    help="Outcome for an --image that the ranking does not list (the ranking lists only "
    "images Security Center ranked, so its risk is unknown).",
)
@click.option(
    "--snapshot",
    metavar="FILE",
    envvar="GATE_SNAPSHOT",
    show_envvar=True,
    help="Read a saved API response (from 'gate fetch' or the Alibaba Cloud CLI) instead of "
    "calling the API; '-' reads standard input.",
)
@click.option(
    "--max-age",
    metavar="DURATION",
    envvar="GATE_MAX_AGE",
    show_envvar=True,
    help="Refuse a snapshot older than this (e.g. 30m, 24h, 7d), or one without a fetch time.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Evaluate the bundled sample response (all namespaces) with the chosen policies.",
)
@click.option(
    "--json",
    "json_path",
    metavar="PATH",
    envvar="GATE_JSON",
    show_envvar=True,
    help="Write the JSON report to PATH ('-' for stdout; the console report then goes to stderr).",
)
@click.option(
    "--junit",
    "junit_path",
    metavar="PATH",
    envvar="GATE_JUNIT",
    show_envvar=True,
    help="Write a JUnit XML report to PATH (also when the data cannot be read).",
)
@click.option(
    "--junit-max-bytes",
    type=click.IntRange(min=1),
    default=JUNIT_MAX_BYTES,
    show_default=True,
    envvar="GATE_JUNIT_MAX_BYTES",
    show_envvar=True,
    metavar="BYTES",
    help="Compact the JUnit report when the full one would be larger (GitLab rejects reports "
    "over 30 MB): passing checks collapse into one case per policy; every check that did not "
    "pass stays listed.",
)
@click.option(
    "--junit-max-cases",
    type=click.IntRange(min=1),
    default=JUNIT_MAX_CASES,
    show_default=True,
    envvar="GATE_JUNIT_MAX_CASES",
    show_envvar=True,
    metavar="N",
    help="Compact the JUnit report when the full one would have more test cases (GitLab "
    "rejects reports over 500,000).",
)
@click.option(
    "--summary",
    "summary_path",
    metavar="PATH",
    envvar="GATE_SUMMARY",
    show_envvar=True,
    help="Write the Markdown summary (as shown in a GitHub job summary) to PATH.",
)
@click.option(
    "--override",
    metavar="REASON",
    envvar="GATE_OVERRIDE",
    show_envvar=True,
    help="Let soft-mandatory failures pass, recording REASON in every report. Never affects "
    "hard-mandatory rules.",
)
@click.option(
    "--now",
    "now_text",
    metavar="YYYY-MM-DD",
    envvar="GATE_NOW",
    show_envvar=True,
    help="Evaluate waivers as of this date (default: today, UTC).",
)
@click.option(
    "--require-images",
    is_flag=True,
    envvar="GATE_REQUIRE_IMAGES",
    show_envvar=True,
    help="Fail (exit 1) when no ranked image matches the selection.",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    envvar="GATE_QUIET",
    show_envvar=True,
    help="Print only the summary and verdict lines.",
)
@live_options
@handle_errors
@without_cyclic_gc
def check(
    policies: tuple[str, ...],
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    images: tuple[str, ...],
    unranked: str,
    snapshot: str | None,
    max_age: str | None,
    demo: bool,
    json_path: str | None,
    junit_path: str | None,
    junit_max_bytes: int,
    junit_max_cases: int,
    summary_path: str | None,
    override: str | None,
    now_text: str | None,
    require_images: bool,
    quiet: bool,
    region: str,
    endpoint: str | None,
    types: str,
    retries: int,
    timeout: float,
    debug: bool,
) -> None:
    """Evaluate ranked images against policies and exit with the verdict.

    Select images with --namespace NS (repeatable, globs allowed), --all-namespaces, or
    --image REF for exactly the images about to be deployed. Without --snapshot or --demo
    the ranking is fetched live from the Security Center API with credentials from the
    Alibaba Cloud default chain (environment, OIDC role, CLI profile, ECS RAM role).

    \b
    Examples:
      gate check --demo
      gate check --snapshot ranking.json --namespace 'prod-*' --junit gate.xml
      gate check --namespace prod --policy policies/ --json report.json
      gate check --image registry.cn-hangzhou.aliyuncs.com/prod/api:1.4.2

    Under GitHub Actions (GITHUB_ACTIONS=true) the gate also writes the job summary, step
    outputs and annotations; under GitLab CI (GITLAB_CI=true) the console report is folded
    into collapsible sections.
    """
    _distinct_outputs({"--json": json_path, "--junit": junit_path, "--summary": summary_path})
    try:
        report = _run_check(
            policies=policies,
            namespaces=namespaces,
            all_namespaces=all_namespaces,
            images=images,
            unranked=unranked,
            snapshot=snapshot,
            max_age=max_age,
            demo=demo,
            override=override,
            now_text=now_text,
            require_images=require_images,
            live={
                "region": region,
                "endpoint": endpoint,
                "types": types,
                "retries": retries,
                "timeout": timeout,
                "debug": debug,
            },
        )
    except GateError as error:
        _report_error(error, junit_path, json_path, summary_path)
        raise
    try:
        report = _write_reports(
            report, junit_path, json_path, summary_path, junit_max_bytes, junit_max_cases
        )
    except GateError as error:
        # One report could not be written: none may keep a previous run's verdict either.
        _report_error(error, junit_path, json_path, summary_path)
        raise
    _print_console(
        report,
        json_path=json_path,
        junit_path=junit_path,
        quiet=quiet,
        banner=(DEMO_BANNER_OWN_POLICIES if policies else DEMO_BANNER) if demo else None,
    )


def _report_error(
    error: GateError, junit_path: str | None, json_path: str | None, summary_path: str | None
) -> None:
    """Every requested report says the run evaluated nothing usable, never a stale verdict."""
    _write_error_junit(junit_path, error)
    _write_error_json(json_path, error)
    _publish_error(error, junit_path, summary_path)


def _write_reports(
    report: Report,
    junit_path: str | None,
    json_path: str | None,
    summary_path: str | None,
    junit_max_bytes: int,
    junit_max_cases: int,
) -> Report:
    from gate.report.files import write_atomic, write_stream

    if junit_path:
        from gate.report.junit import JunitFormat

        plan = JunitFormat(max_bytes=junit_max_bytes, max_cases=junit_max_cases).plan(report)
        write_stream(junit_path, plan.chunks())
        if plan.notes:  # compacted: say so in every other report too
            report = report.with_warnings(plan.notes)
    if json_path:
        from gate.report.json_report import JsonFormat

        write_stream(json_path, JsonFormat().chunks(report))
    if summary_path and not _is_step_summary(summary_path):
        from gate.report.github import MarkdownFormat

        write_atomic(summary_path, MarkdownFormat().render(report))
    return report


def _is_step_summary(path: str) -> bool:
    """Under GitHub Actions the job summary is appended anyway: writing it again would
    replace what earlier steps wrote there."""
    step = os.environ.get("GITHUB_STEP_SUMMARY")
    return (
        os.environ.get("GITHUB_ACTIONS") == "true"
        and bool(step)
        and os.path.realpath(path) == os.path.realpath(str(step))
    )


def _print_console(
    report: Report,
    *,
    json_path: str | None,
    junit_path: str | None,
    quiet: bool,
    banner: str | None,
) -> None:
    from gate.report.console import ConsoleFormat

    annotations = ""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from gate.ci import github

        annotations = github.publish(report, junit=junit_path, json=json_path)
    to_stderr = json_path == "-" or junit_path == "-"
    stream = sys.stderr if to_stderr else sys.stdout
    gitlab = os.environ.get("GITLAB_CI") == "true"
    # GitLab's log viewer renders ANSI colours, although the job's stdout is no TTY.
    tty = stream is not None and stream.isatty()
    colour = (tty or gitlab) and "NO_COLOR" not in os.environ
    if gitlab:
        import time

        from gate.report.gitlab import GitlabConsoleFormat

        text = GitlabConsoleFormat(
            timestamp=int(time.time()), color=colour, quiet=quiet, banner=banner
        ).render(report)
    else:
        text = ConsoleFormat(color=colour, quiet=quiet, banner=banner).render(report)
    try:
        click.echo(text + annotations, nl=False, err=to_stderr, color=colour)
        if stream is not None:
            stream.flush()
    except OSError:
        # A closed pipe (`gate check | head`) or a full disk: the reports are written and the
        # verdict stands; exit with it rather than report a crash. Point the stream at
        # /dev/null so the interpreter's final flush cannot fail again.
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    _exit(report.exit_code, large=report.summary()["checks"] > FAST_EXIT_CHECKS)


def _distinct_outputs(outputs: dict[str, str | None]) -> None:
    """Refuse, before any work, two reports bound for one place: each would spoil the other."""
    seen: dict[str, str] = {}
    for option, path in outputs.items():
        if not path:
            continue
        key = path if path == "-" else os.path.realpath(path)
        if key in seen:
            where = "standard output" if path == "-" else path
            raise UsageError(f"{seen[key]} and {option} both write to {where}; give each its own")
        seen[key] = option


def _publish_error(error: GateError, junit_path: str | None, summary_path: str | None) -> None:
    """Make a run that evaluated nothing visible in the summary, outputs and annotations."""
    if summary_path:
        from gate.report.files import write_atomic
        from gate.report.github import error_summary

        with contextlib.suppress(GateError):
            write_atomic(summary_path, error_summary(error.render(), error.exit_code))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from gate.ci import github

        with contextlib.suppress(GateError):
            click.echo(
                github.publish_error(error.render(), error.exit_code, junit=junit_path), nl=False
            )


def _run_check(
    *,
    policies: Sequence[str],
    namespaces: Sequence[str],
    all_namespaces: bool,
    snapshot: str | None,
    max_age: str | None,
    demo: bool,
    override: str | None,
    now_text: str | None,
    require_images: bool,
    live: dict[str, Any],
    images: Sequence[str] = (),
    unranked: str = "warn",
) -> Report:
    if namespaces and all_namespaces:
        raise UsageError("use either --namespace or --all-namespaces, not both")
    if demo and snapshot:
        raise UsageError(
            "--demo evaluates the bundled sample; it cannot be combined with --snapshot"
        )
    if not namespaces and not all_namespaces and not demo and not images:
        raise UsageError(
            "choose the images to evaluate: --namespace NS (repeatable, globs allowed), "
            "--all-namespaces, or --image REF (repeatable)",
            hint="try 'gate check --demo' to see the gate on bundled sample data",
        )
    if override is not None and not override.strip():
        raise UsageError("--override needs a non-empty reason, which the reports record")
    age = None
    if max_age:
        from gate.source.snapshot import parse_duration

        try:
            age = parse_duration(max_age)
        except ValueError as exc:
            raise UsageError(f"--max-age: {exc}") from None
        if not snapshot:
            raise UsageError("--max-age applies to --snapshot files")
    refs: tuple[ImageRef, ...] = ()
    if images:
        from gate.imageref import parse_image_ref

        refs = tuple(parse_image_ref(text) for text in images)
    now = _parse_now(now_text)
    loaded = _load_policies(policies)

    if demo:
        data = _demo_snapshot()
    elif snapshot:
        from gate.source.normalize import DetailReader
        from gate.source.snapshot import check_max_age, read_snapshot

        # Read each image's counters while parsing: a large file is then held only once.
        data = read_snapshot(snapshot, object_hook=DetailReader(_wanted(loaded)).hook)
        if age is not None:
            import datetime as dt

            check_max_age(data, age, dt.datetime.now(dt.timezone.utc))
    else:
        data = _fetch_live(**live)
    return _evaluate(
        loaded,
        data.body,
        data.info,
        namespaces,
        now,
        override,
        require_images,
        all_namespaces=all_namespaces,
        refs=refs,
        unranked=unranked,
    )


def _masked_notes(images: Sequence[Image], refs: Sequence[ImageRef]) -> list[str]:
    if not refs:
        return []
    from gate.imageref import masked_digest_notes

    return masked_digest_notes(images, refs)


def _wanted(policies: Sequence[Policy]) -> set[str]:
    """The metrics some rule reads: the only ones kept from the ranking."""
    return {m for p in policies for r in p.rules for m in r.condition.metrics}


def _evaluate(
    policies: tuple[Policy, ...],
    body: dict[str, Any],
    source: SourceInfo,
    namespaces: Sequence[str],
    now: dt.date,
    override: str | None,
    require_images: bool,
    *,
    all_namespaces: bool = False,
    refs: Sequence[ImageRef] = (),
    unranked: str = "warn",
) -> Report:
    from gate.evaluate import evaluate, select
    from gate.model import Outcome
    from gate.source.normalize import normalize

    ranking = normalize(body, _wanted(policies))
    selected: list[Image] = select(
        ranking.images, namespaces=namespaces, all_namespaces=all_namespaces, refs=refs
    )
    return evaluate(
        policies,
        selected,
        now=now,
        source=source,
        # With --image, say that every namespace was taken too (the header lists both).
        selection=tuple(namespaces) or (("*",) if all_namespaces and refs else ()),
        override=override,
        require_images=require_images,
        warnings=(*source.notes, *ranking.warnings, *_masked_notes(selected, refs)),
        refs=refs,
        unranked=Outcome(unranked),
    )


# --- fetch -------------------------------------------------------------------------------


@cli.command(epilog="Exit codes: 0 saved, 2 usage error, 3 the ranking could not be obtained.")
@click.option(
    "--output",
    "-o",
    required=True,
    metavar="FILE",
    envvar="GATE_OUTPUT",
    show_envvar=True,
    help="Where to save the snapshot ('-' for stdout).",
)
@live_options
@handle_errors
def fetch(
    output: str,
    region: str,
    endpoint: str | None,
    types: str,
    retries: int,
    timeout: float,
    debug: bool,
) -> None:
    """Fetch the ranking from the API and save it for 'gate check --snapshot'.

    The file is an envelope recording when, where and with which request id the ranking
    was fetched, so 'gate check --max-age' can refuse stale data.
    """
    import json

    from gate.report.files import write_atomic

    data = _fetch_live(
        region=region,
        endpoint=endpoint,
        types=types,
        retries=retries,
        timeout=timeout,
        debug=debug,
    )
    envelope = {
        "gate_snapshot": 1,
        "fetched_at": data.info.fetched_at,
        "region": data.info.region,
        "endpoint": data.info.endpoint,
        "request_id": data.info.request_id,
        "response": data.body,
    }
    write_atomic(output, json.dumps(envelope, indent=2) + "\n")
    info = data.body.get("RiskRankInfo", {})
    counts = ", ".join(f"{len(v) if isinstance(v, list) else 0} in {k}" for k, v in info.items())
    where = "stdout" if output == "-" else output
    click.echo(f"saved ranking ({counts}) to {where}, request id {data.info.request_id}", err=True)


# --- validate, metrics, schema -----------------------------------------------------------


@cli.command(epilog="Exit codes: 0 every policy is valid, 2 a problem was found.")
@click.argument("paths", nargs=-1, required=True, metavar="POLICY...")
@handle_errors
def validate(paths: tuple[str, ...]) -> None:
    """Check policy files and directories; print every problem with file:line:column."""
    from gate.policy.loader import load_policies

    loaded = load_policies(paths)
    for policy in loaded:
        click.echo(
            f"ok  {policy.file}: policy '{policy.name}', {len(policy.rules)} rule(s), "
            f"{len(policy.waivers)} waiver(s)"
        )


@cli.command()
def metrics() -> None:
    """List the metric names a fail_if expression may use, with their meaning."""
    from gate.policy.metrics import DETAIL_COUNTERS, IMAGE_FIELDS

    width = max(len(name) for name in (*DETAIL_COUNTERS, *IMAGE_FIELDS))
    click.echo("Counters from RiskLevelDetail (asap/later/nntf = high/medium/low fix priority):")
    for name, meaning in DETAIL_COUNTERS.items():
        click.echo(f"  {name:<{width}}  {meaning}")
    click.echo("\nNumeric fields of the image record:")
    for name, meaning in IMAGE_FIELDS.items():
        click.echo(f"  {name:<{width}}  {meaning}")


@cli.command()
def schema() -> None:
    """Print the policy JSON Schema (for editors: '# yaml-language-server: $schema=...')."""
    import json

    from gate.policy.loader import schema as load_schema

    click.echo(json.dumps(load_schema(), indent=2))


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    global _fast_exit
    _fast_exit = True
    signal.signal(signal.SIGTERM, _on_terminate)
    signal.signal(signal.SIGINT, _on_terminate)
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="gate")
    except GateError as error:  # pragma: no cover - commands convert their own
        _fail(error)
    except Exception as exc:  # a bug: say so, never pass
        click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("please report this with the command you ran", err=True)
        sys.exit(EXIT_USAGE)
