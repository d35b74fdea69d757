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
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from gate import __version__, signals
from gate._pipe import discard_after_reader_leaves, informational

if TYPE_CHECKING:
    import datetime as dt

    from gate.errors import GateError, UsageError
    from gate.model import Report
    from gate.report.outputs import ReportFiles
    from gate.run import CheckRequest, LiveOptions

F = TypeVar("F", bound=Callable[..., Any])

# The JUnit size limits (gate.report.junit has the same defaults; not imported for --help's sake).
JUNIT_MAX_BYTES = 20_000_000
JUNIT_MAX_CASES = 200_000
JUNIT_MAX_ELEMENTS = 200_000

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
    message = _printable(error.render())
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
        from gate.errors import GateError

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


class _PipeSafe(click.Command):
    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # --help and --version print while the command line is parsed: a reader that left
        # (`gate --help | head -1`) ends the output, not the exit code.
        with discard_after_reader_leaves():
            return super().make_context(info_name, args, parent=parent, **extra)


class _Command(_PipeSafe):
    """A command whose parameters are built when first needed: ``gate --help`` lists the
    commands without building their sixty-odd options (a millisecond of its start)."""

    context_class = _Context

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Declared with option()/argument() below, top to bottom (the decorators run bottom
        # to top, as click's own do).
        self._declared = tuple(reversed(getattr(self.callback, "__gate_params__", ())))

    @property
    def params(self) -> list[click.Parameter]:
        if self._declared:
            made = [kind(decls, **attrs) for kind, decls, attrs in self._declared]
            self._declared = ()
            self._params[:0] = made
        return self._params

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._params = value


def _deferred(kind: type[click.Parameter]) -> Callable[..., Callable[[F], F]]:
    def declare(*decls: str, **attrs: Any) -> Callable[[F], F]:
        def decorator(func: F) -> F:
            func.__dict__.setdefault("__gate_params__", []).append((kind, decls, attrs))
            return func

        return decorator

    return declare


option = _deferred(click.Option)
"""``click.option`` for a command of this CLI, built when the command's parameters are
first needed (see :class:`_Command`)."""
argument = _deferred(click.Argument)
"""``click.argument``, likewise."""


class _Group(_PipeSafe, click.Group):
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


def _parse_now(value: str | None) -> dt.date | None:
    import datetime as dt  # not at the top: 'gate --help' has no use for it

    from gate.errors import UsageError

    if value is None or not value.strip():
        return None
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


def _parse_max_age(value: str | None) -> dt.timedelta | None:
    from gate.errors import UsageError

    if value is None:
        return None
    from gate.source.snapshot import parse_duration

    try:
        return parse_duration(value)
    except (ValueError, OverflowError) as exc:
        raise UsageError(f"--max-age: {exc}") from None


def _not_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """An empty value (an unset shell variable) never quietly changes what a run does."""
    values = value if isinstance(value, tuple) else (value,)
    if any(isinstance(v, str) and not v.strip() for v in values):
        raise click.BadParameter(
            "is empty (an unset shell variable?); give a value or leave the option out",
            ctx=ctx,
            param=param,
        )
    return value


LIVE_ONLY = ("region", "endpoint", "types", "retries", "timeout", "max_response_mb", "debug")


def live_options(func: F) -> F:
    """Options shared by every command that talks to the Security Center API."""
    options = [
        option(
            "--region",
            envvar=["GATE_REGION", "ALIBABA_CLOUD_REGION_ID"],
            show_envvar=True,
            metavar="REGION",
            callback=_not_empty,
            help="Region of the Security Center instance; picks the official endpoint. "
            "Default: the aliyun CLI profile's region when its credentials are used, "
            "else cn-hangzhou.",
        ),
        option(
            "--endpoint",
            envvar="GATE_ENDPOINT",
            show_envvar=True,
            metavar="HOST|URL",
            callback=_not_empty,
            help="Endpoint host or full URL, overriding --region "
            "(e.g. a VPC endpoint, or http://127.0.0.1:8080 for the emulator).",
        ),
        option(
            "--types",
            "types",
            envvar="GATE_TYPES",
            show_envvar=True,
            default="vulAsap,baseline",
            show_default=True,
            metavar="LIST",
            callback=_not_empty,
            help="Ranking lists to request, comma-separated: vulAsap, baseline.",
        ),
        option(
            "--retries",
            type=click.IntRange(0, 10),
            default=3,
            show_default=True,
            envvar="GATE_RETRIES",
            show_envvar=True,
            help="Retries on connection errors, timeouts, 5xx and throttling.",
        ),
        option(
            "--timeout",
            type=click.FloatRange(1, 3600),
            default=60.0,
            show_default=True,
            envvar="GATE_TIMEOUT",
            show_envvar=True,
            metavar="SECONDS",
            help="Overall deadline for the API call: connect, headers, body and every retry.",
        ),
        option(
            "--max-response-mb",
            type=click.IntRange(1, 4096),
            default=32,
            show_default=True,
            envvar="GATE_MAX_RESPONSE_MB",
            show_envvar=True,
            metavar="MB",
            help="Refuse an API response body larger than this many MiB (exit 3).",
        ),
        option(
            "--debug",
            is_flag=True,
            envvar="GATE_DEBUG",
            show_envvar=True,
            help="Log API requests and responses to stderr (secrets redacted).",
        ),
    ]
    for declare in reversed(options):
        func = declare(func)
    return func


def _region_origin(ctx: click.Context) -> str | None:
    from click.core import ParameterSource

    source = ctx.get_parameter_source("region")
    if source is ParameterSource.COMMANDLINE:
        return "--region"
    if source is ParameterSource.ENVIRONMENT:
        return "GATE_REGION" if os.environ.get("GATE_REGION") else "ALIBABA_CLOUD_REGION_ID"
    return None


def _live(ctx: click.Context, params: dict[str, Any]) -> LiveOptions:
    from gate.run import LiveOptions

    debug = params["debug"]
    return LiveOptions(
        region=params["region"],
        region_origin=_region_origin(ctx),
        endpoint=params["endpoint"],
        types=tuple(t.strip() for t in params["types"].split(",") if t.strip()),
        retries=params["retries"],
        timeout=params["timeout"],
        max_response_bytes=params["max_response_mb"] * 1024 * 1024,
        log=(lambda line: click.echo(f"debug: {_printable(line)}", err=True)) if debug else None,
    )


def _printable(text: str) -> str:
    """A message for the terminal and CI logs: no escape or control characters, and no line
    that data could have started (the gate's own continuation lines are indented; a line
    from data could be read as a GitHub workflow command): those fold into the line above."""
    from gate.report.text import terminal_safe

    lines: list[str] = []
    for line in terminal_safe(text).split("\n"):
        command = line.lstrip().startswith(("::", "##["))
        if lines and (command or not line.startswith("  ")):
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return "\n".join(lines)


def _inapplicable(
    ctx: click.Context, names: Sequence[str], mode: str, *, refuse: bool
) -> list[str]:
    """Options that do nothing in this mode: refused when typed and ``refuse`` (an interactive
    mode), else a warning in every report (CI wrappers pass their inputs through)."""
    from click.core import ParameterSource

    from gate.errors import UsageError

    notes = []
    for param in ctx.command.params:
        if param.name not in names:
            continue
        source = ctx.get_parameter_source(param.name)
        flag = param.opts[0]
        if source is ParameterSource.COMMANDLINE:
            if refuse:
                raise UsageError(f"{flag} has no effect with {mode}; leave it out")
            notes.append(f"{flag} has no effect with {mode}")
        envvar = param.envvar if isinstance(param.envvar, str) else None
        if source is ParameterSource.ENVIRONMENT and envvar and os.environ.get(envvar):
            notes.append(f"{envvar} is set but has no effect with {mode}")
    return notes


@cli.command(epilog=EXIT_CODES)
@option(
    "--policy",
    "-p",
    "policies",
    multiple=True,
    envvar="GATE_POLICY",
    show_envvar=True,
    metavar="PATH",
    type=click.Path(),
    callback=_not_empty,
    help="Policy file or directory (*.yaml, *.yml). Repeatable. Default: the bundled "
    "policies/default.yaml.",
)
@option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    envvar="GATE_NAMESPACE",
    show_envvar=True,
    metavar="NS",
    callback=_not_empty,
    help="Registry namespace to evaluate; globs allowed (prod-*). Repeatable.",
)
@option(
    "--all-namespaces",
    is_flag=True,
    envvar="GATE_ALL_NAMESPACES",
    show_envvar=True,
    help="Evaluate every ranked image.",
)
@option(
    "--image",
    "images",
    multiple=True,
    envvar="GATE_IMAGE",
    show_envvar=True,
    metavar="REF",
    callback=_not_empty,
    help="Evaluate this image: [REGISTRY/]NAMESPACE/REPOSITORY[:TAG][@sha256:DIGEST] "
    "(no tag and no digest means :latest; with a digest, the digest is matched). Repeatable; "
    "needs no --namespace, and adds to it when both are given.",
)
@option(
    "--unranked",
    type=click.Choice(["pass", "warn", "fail"]),
    default="warn",
    show_default=True,
    envvar="GATE_UNRANKED",
    show_envvar=True,
    help="Outcome for an --image that the ranking does not list (the ranking lists only "
    "images Security Center ranked, so its risk is unknown).",
)
@option(
    "--snapshot",
    metavar="FILE",
    envvar="GATE_SNAPSHOT",
    show_envvar=True,
    callback=_not_empty,
    help="Read a saved API response (from 'gate fetch' or the Alibaba Cloud CLI) instead of "
    "calling the API; '-' reads standard input.",
)
@option(
    "--max-age",
    metavar="DURATION",
    envvar="GATE_MAX_AGE",
    show_envvar=True,
    callback=_not_empty,
    help="Refuse a snapshot older than this (e.g. 30m, 24h, 7d), or one without a fetch time.",
)
@option(
    "--demo",
    is_flag=True,
    help="Evaluate the bundled sample response (all namespaces) with the chosen policies.",
)
@option(
    "--json",
    "json_path",
    metavar="PATH",
    envvar="GATE_JSON",
    show_envvar=True,
    callback=_not_empty,
    help="Write the JSON report to PATH ('-' for stdout; the console report then goes to stderr).",
)
@option(
    "--junit",
    "junit_path",
    metavar="PATH",
    envvar="GATE_JUNIT",
    show_envvar=True,
    callback=_not_empty,
    help="Write a JUnit XML report to PATH (also when the data cannot be read).",
)
@option(
    "--junit-max-bytes",
    type=click.IntRange(min=1),
    default=JUNIT_MAX_BYTES,
    show_default=True,
    envvar="GATE_JUNIT_MAX_BYTES",
    show_envvar=True,
    metavar="BYTES",
    help="Compact the JUnit report when the full one would be larger (GitLab rejects reports "
    "over 30 MB). It is compacted in stages: passing checks, then warnings, waivers and "
    "overrides, then failures collapse into one case per policy rule; every rule with a "
    "blocking result keeps a failed case, and the JSON report keeps every result.",
)
@option(
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
@option(
    "--junit-max-elements",
    type=click.IntRange(min=1),
    default=JUNIT_MAX_ELEMENTS,
    show_default=True,
    envvar="GATE_JUNIT_MAX_ELEMENTS",
    show_envvar=True,
    metavar="N",
    help="Compact the JUnit report when it would have more XML element nodes (GitLab 17.6 "
    "and later rejects reports over 250,000).",
)
@option(
    "--summary",
    "summary_path",
    metavar="PATH",
    envvar="GATE_SUMMARY",
    show_envvar=True,
    callback=_not_empty,
    help="Write the Markdown summary (as shown in a GitHub job summary) to PATH.",
)
@option(
    "--override",
    metavar="REASON",
    envvar="GATE_OVERRIDE",
    show_envvar=True,
    help="Let soft-mandatory failures pass, recording REASON in every report. Never affects "
    "hard-mandatory rules.",
)
@option(
    "--now",
    "now_text",
    metavar="YYYY-MM-DD",
    envvar="GATE_NOW",
    show_envvar=True,
    help="Evaluate waivers as of this date (default: today, UTC).",
)
@option(
    "--require-images",
    is_flag=True,
    envvar="GATE_REQUIRE_IMAGES",
    show_envvar=True,
    help="Fail (exit 1) when no ranked image matches the selection.",
)
@option(
    "--quiet",
    "-q",
    is_flag=True,
    envvar="GATE_QUIET",
    show_envvar=True,
    help="Print only the summary and verdict lines.",
)
@option(
    "--explain",
    is_flag=True,
    envvar="GATE_EXPLAIN",
    show_envvar=True,
    help="Show the vulnerability records (CVE, package, fix, first seen) behind each blocking "
    "vulnerability result, fetched with DescribeImageVulList (needs "
    "yundun-sas:DescribeImageVulList; --demo uses bundled sample records). Never changes "
    "the verdict.",
)
@option(
    "--explain-max-images",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    envvar="GATE_EXPLAIN_MAX_IMAGES",
    show_envvar=True,
    metavar="N",
    help="Explain at most N images (4 at a time, within --timeout).",
)
@option(
    "--lookup-unranked",
    is_flag=True,
    envvar="GATE_LOOKUP_UNRANKED",
    show_envvar=True,
    help="Look each --image the ranking does not list up in Security Center's image list "
    "(DescribeImageInstances); if it was scanned, evaluate it with its own vulnerability "
    "counts (DescribeImageVulList) instead of --unranked. Counters the image list lacks "
    "(malicious files, baseline levels) cannot be evaluated: error under mandatory rules.",
)
@option(
    "--scan-if-missing",
    is_flag=True,
    envvar="GATE_SCAN_IF_MISSING",
    show_envvar=True,
    help="With the lookup (implied): start a Security Center scan of an --image that the "
    "image list has but never scanned, and wait for it (PublicCreateImageScanTask). EACH SCAN "
    "USES ONE OF THE ACCOUNT'S PURCHASED IMAGE SCAN AUTHORIZATIONS; no scan is ever started "
    "without this flag. A scan that fails or outlives --wait-timeout is exit 3.",
)
@option(
    "--wait-timeout",
    type=click.IntRange(1, 86400),
    default=600,
    show_default=True,
    envvar="GATE_WAIT_TIMEOUT",
    show_envvar=True,
    metavar="SECONDS",
    help="How long --scan-if-missing waits for a scan to finish.",
)
@live_options
@option(
    "--max-snapshot-mb",
    type=click.IntRange(1, 1_048_576),
    default=1024,
    show_default=True,
    envvar="GATE_MAX_SNAPSHOT_MB",
    show_envvar=True,
    metavar="MB",
    help="Refuse a snapshot larger than this many MiB (exit 3).",
)
@option(
    "--baseline",
    "baseline_path",
    metavar="FILE",
    envvar="GATE_BASELINE",
    show_envvar=True,
    callback=_not_empty,
    help="Compare each image with its repository's entry in FILE (from 'gate baseline'): "
    "rules may use baseline.<metric> and delta.<metric>; reports show both numbers.",
)
@option(
    "--compare-to",
    metavar="TAG",
    envvar="GATE_COMPARE_TO",
    show_envvar=True,
    callback=_not_empty,
    help="Compare each image with the image of the same repository tagged TAG (globs "
    "allowed, e.g. 'prod-*') in the same ranking, instead of a baseline file.",
)
@option(
    "--codequality",
    "codequality_path",
    metavar="PATH",
    envvar="GATE_CODEQUALITY",
    show_envvar=True,
    callback=_not_empty,
    help="Write a GitLab Code Quality report (artifacts:reports:codequality) to PATH.",
)
@handle_errors
@without_cyclic_gc
@click.pass_context
def check(ctx: click.Context, /, **params: Any) -> None:
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
    from gate.errors import GateError
    from gate.report.outputs import OutputSettings, ReportFiles

    paths = {
        "json": params["json_path"],
        "junit": params["junit_path"],
        "summary": params["summary_path"],
        "codequality": params["codequality_path"],
    }
    files = ReportFiles(
        paths,
        OutputSettings(
            junit_max_bytes=params["junit_max_bytes"],
            junit_max_cases=params["junit_max_cases"],
            junit_max_elements=params["junit_max_elements"],
        ),
    )
    clash = _clashing_outputs(
        {
            "--json": paths["json"],
            "--junit": paths["junit"],
            "--summary": paths["summary"],
            "--codequality": paths["codequality"],
        },
        inputs={
            "--snapshot": params["snapshot"],
            "--baseline": params["baseline_path"],
            **_policy_inputs(params["policies"]),
        },
    )
    if clash is not None:
        # Replace only the reports that are not part of the clash: writing to those would
        # spoil an input or the other report.
        error, spoiled = clash
        ReportFiles(
            {name: path for name, path in paths.items() if f"--{name}" not in spoiled},
            OutputSettings(),
        ).write_errors(error)
        raise error
    try:
        request, notes = _check_request(ctx, params)
        from gate.run import run_check

        report = run_check(request)
        if notes:
            report = report.with_warnings(notes)
    except GateError as error:
        _report_error(error, files)
        raise
    report = files.write(report)  # on failure every file holds the error document
    try:
        annotations = _publish(report, paths)
    except GateError as error:
        # The files said "pass" a moment ago; the run ends with exit 2: they must agree.
        _report_error(error, files)
        raise
    _print_console(
        report,
        annotations=annotations,
        to_stderr=paths["json"] == "-" or paths["junit"] == "-",
        quiet=params["quiet"],
        banner=(DEMO_BANNER_OWN_POLICIES if params["policies"] else DEMO_BANNER)
        if params["demo"]
        else None,
    )


def _check_request(ctx: click.Context, params: dict[str, Any]) -> tuple[CheckRequest, list[str]]:
    from gate.run import CheckRequest

    notes: list[str] = []
    if params["demo"]:
        notes += _inapplicable(ctx, (*LIVE_ONLY, "max_snapshot_mb"), "--demo", refuse=True)
    elif params["snapshot"] is not None:
        # --explain fetches the vulnerability records live: only --types stays unused.
        unused = ("types",) if params["explain"] else LIVE_ONLY
        notes += _inapplicable(ctx, unused, "--snapshot", refuse=False)
    else:
        notes += _inapplicable(ctx, ("max_snapshot_mb",), "the live API", refuse=False)
    request = CheckRequest(
        policies=params["policies"],
        namespaces=params["namespaces"],
        all_namespaces=params["all_namespaces"],
        images=params["images"],
        unranked=params["unranked"],
        demo=params["demo"],
        snapshot=params["snapshot"],
        max_snapshot_bytes=params["max_snapshot_mb"] * 1024 * 1024,
        max_age=_parse_max_age(params["max_age"]),
        now=_parse_now(params["now_text"]),
        override=params["override"],
        require_images=params["require_images"],
        live=_live(ctx, params),
        baseline=params["baseline_path"],
        compare_to=params["compare_to"],
        explain=params["explain"],
        explain_max_images=params["explain_max_images"],
        lookup_unranked=params["lookup_unranked"],
        scan_if_missing=params["scan_if_missing"],
        wait_timeout=float(params["wait_timeout"]),
    )
    return request, notes


def _policy_inputs(policies: Sequence[str]) -> dict[str, str]:
    return {f"--policy {p}": p for p in policies if p and os.path.isfile(p)}


def _report_error(error: GateError, files: ReportFiles) -> None:
    """Every requested report says the run evaluated nothing usable, never a stale verdict."""
    files.write_errors(error)
    _publish_error(error, files)


def _publish(report: Report, paths: dict[str, str | None]) -> str:
    """The CI-native channels: GitHub step summary, outputs and annotations (returned)."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return ""
    from gate.ci import github

    return github.publish(report, junit=paths["junit"], json=paths["json"])


def _print_console(
    report: Report,
    *,
    annotations: str,
    to_stderr: bool,
    quiet: bool,
    banner: str | None,
) -> None:
    from gate.report.console import ConsoleFormat

    stream = sys.stderr if to_stderr else sys.stdout
    gitlab = os.environ.get("GITLAB_CI") == "true"
    # GitLab's log viewer renders ANSI colours, although the job's stdout is no TTY.
    tty = stream is not None and stream.isatty()
    colour = (tty or gitlab) and "NO_COLOR" not in os.environ
    if gitlab:
        import time

        from gate.report.gitlab import GitlabConsoleFormat

        text = GitlabConsoleFormat(
            timestamp=int(time.time()),
            color=colour,
            quiet=quiet,
            banner=banner,
            encoding=getattr(stream, "encoding", None),
        ).render(report)
    else:
        encoding = getattr(stream, "encoding", None)
        text = ConsoleFormat(color=colour, quiet=quiet, banner=banner, encoding=encoding).render(
            report
        )
    try:
        # Under GitLab the section markers are escape sequences that must reach the log even
        # with NO_COLOR; the formatter has already left colours out when it should.
        click.echo(text + annotations, nl=False, err=to_stderr, color=colour or gitlab)
        if stream is not None:
            stream.flush()
    except OSError:
        # A closed pipe (`gate check | head`) or a full disk: the reports are written and the
        # verdict stands; exit with it rather than report a crash.
        _silence(stream)
    _exit(report.exit_code, large=report.summary()["checks"] > FAST_EXIT_CHECKS)


def _silence(stream: Any) -> None:
    """Point a failed stream at /dev/null so the interpreter's final flush cannot fail again."""
    if stream is not None:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def _clashing_outputs(
    outputs: dict[str, str | None], *, inputs: dict[str, str | None]
) -> tuple[UsageError, set[str]] | None:
    """Two reports bound for one place (each would spoil the other), or a report bound for an
    input (the saved ranking, a policy file): the error, and the options involved."""
    from gate.errors import UsageError

    seen: dict[str, str] = {}
    for option, path in inputs.items():
        if path and path != "-":
            seen[os.path.realpath(path)] = option
    for option, path in outputs.items():
        if not path:
            continue
        key = path if path == "-" else os.path.realpath(path)
        if key in seen:
            where = "standard output" if path == "-" else path
            other = seen[key]
            if other in outputs:
                message = f"{other} and {option} both write to {where}; give each its own"
                return UsageError(message), {other, option}
            return UsageError(
                f"{option} {path} would overwrite the {other.split()[0]} input; "
                "choose another report path"
            ), {option}
        seen[key] = option
    return None


def _publish_error(error: GateError, files: ReportFiles) -> None:
    """Make a run that evaluated nothing visible in the CI-native channels."""
    from gate.errors import GateError

    if os.environ.get("GITHUB_ACTIONS") == "true":
        from gate.ci import github

        with contextlib.suppress(GateError):
            click.echo(
                github.publish_error(
                    error.render(),
                    error.exit_code,
                    junit=files.path("junit") if "--junit" in files.written else None,
                    json=files.path("json") if "--json" in files.written else None,
                ),
                nl=False,
            )


# --- fetch -------------------------------------------------------------------------------


@cli.command(epilog="Exit codes: 0 saved, 2 usage error, 3 the ranking could not be obtained.")
@option(
    "--output",
    "-o",
    required=True,
    metavar="FILE",
    envvar="GATE_OUTPUT",
    show_envvar=True,
    callback=_not_empty,
    help="Where to save the snapshot ('-' for stdout).",
)
@live_options
@handle_errors
@click.pass_context
def fetch(ctx: click.Context, /, output: str, **params: Any) -> None:
    """Fetch the ranking from the API and save it for 'gate check --snapshot'.

    The file is an envelope recording when, where and with which request id the ranking
    was fetched, so 'gate check --max-age' can refuse stale data.
    """
    import json

    from gate.report.files import write_atomic
    from gate.run import fetch_live

    data = fetch_live(_live(ctx, params))
    for warning in data.info.warnings:
        click.echo(_printable(f"warning: {warning}"), err=True)
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
    click.echo(
        _printable(
            f"saved ranking ({counts}) to {where}, request id {data.info.request_id}, "
            f"region {data.info.region} (from {data.info.region_origin})"
        ),
        err=True,
    )


# --- baseline ----------------------------------------------------------------------------


@cli.command(
    "baseline",
    epilog="Exit codes: 0 written, 2 usage or policy error, 3 the ranking could not be obtained.",
)
@option(
    "--output",
    "-o",
    metavar="FILE",
    callback=_not_empty,
    help="Where to write the baseline ('-' for stdout). With --update: default the same file.",
)
@option(
    "--update",
    metavar="FILE",
    callback=_not_empty,
    help="Ratchet this baseline: lower the counters that improved, keep the others.",
)
@option(
    "--accept-increase",
    metavar="REASON",
    help="With --update: also raise the counters that went up, recording REASON in the file.",
)
@option(
    "--policy",
    "-p",
    "policies",
    multiple=True,
    envvar="GATE_POLICY",
    show_envvar=True,
    metavar="PATH",
    callback=_not_empty,
    help="Policy file or directory; their counters are recorded. Default: the bundled policy.",
)
@option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    envvar="GATE_NAMESPACE",
    show_envvar=True,
    metavar="NS",
    callback=_not_empty,
    help="Registry namespace to record; globs allowed. Repeatable.",
)
@option("--all-namespaces", is_flag=True, envvar="GATE_ALL_NAMESPACES", help="Record every image.")
@option(
    "--image",
    "images",
    multiple=True,
    metavar="REF",
    callback=_not_empty,
    help="Record this image's repository. Repeatable.",
)
@option(
    "--snapshot",
    metavar="FILE",
    envvar="GATE_SNAPSHOT",
    show_envvar=True,
    callback=_not_empty,
    help="Read a saved API response instead of calling the API ('-': standard input).",
)
@option(
    "--max-age",
    metavar="DURATION",
    callback=_not_empty,
    help="Refuse a snapshot older than this (e.g. 24h).",
)
@option("--demo", is_flag=True, help="Record the bundled sample response.")
@live_options
@option(
    "--max-snapshot-mb",
    type=click.IntRange(1, 1_048_576),
    default=1024,
    show_default=True,
    metavar="MB",
    help="Refuse a snapshot larger than this many MiB (exit 3).",
)
@handle_errors
@click.pass_context
def baseline(ctx: click.Context, /, **params: Any) -> None:
    """Record, per namespace/repository, the counters the policies use, for 'gate check
    --baseline FILE'; or ratchet a baseline with --update FILE.

    \b
    Examples:
      gate baseline -o gate-baseline.json --snapshot ranking.json --all-namespaces
      gate baseline --update gate-baseline.json --snapshot ranking.json --all-namespaces
      gate baseline --update gate-baseline.json --all-namespaces \\
        --accept-increase "SEC-9: new base image"
    """
    from gate.baseline import dump
    from gate.errors import UsageError
    from gate.report.files import write_atomic
    from gate.run import CheckRequest, read_baseline, run_baseline

    update, output = params["update"], params["output"]
    if update is None and output is None:
        raise UsageError("say where to write: -o FILE (new baseline) or --update FILE (ratchet)")
    target = output or update
    if target != "-" and params["snapshot"] and _same_file(target, params["snapshot"]):
        raise UsageError(f"{target} is the --snapshot input; write the baseline elsewhere")
    request = CheckRequest(
        policies=params["policies"],
        namespaces=params["namespaces"],
        all_namespaces=params["all_namespaces"],
        images=params["images"],
        demo=params["demo"],
        snapshot=params["snapshot"],
        max_snapshot_bytes=params["max_snapshot_mb"] * 1024 * 1024,
        max_age=_parse_max_age(params["max_age"]),
        live=_live(ctx, params),
    )
    done = run_baseline(
        request,
        update=read_baseline(update) if update is not None else None,
        accept_increase=params["accept_increase"],
    )
    write_atomic(target, dump(done.baseline))
    for line in done.changes:
        click.echo(_printable(line), err=True)
    for note in done.notes:
        click.echo(_printable(f"warning: {note}"), err=True)
    where = "stdout" if target == "-" else target
    entries = len(done.baseline.entries)
    if update is None:
        message = f"recorded {entries} repository(ies) from {done.images} image(s) to {where}"
    else:
        lowered = sum(line.startswith("lowered") for line in done.changes)
        raised = sum(line.startswith("raised") for line in done.changes)
        message = (
            f"updated {where}: {lowered} counter(s) lowered, {raised} raised, {done.refused} "
            f"increase(s) refused, {len(done.stale)} stale entr(ies) kept; {entries} "
            "repository(ies)"
        )
    click.echo(_printable(message), err=True)


def _same_file(a: str, b: str) -> bool:
    return a != "-" and b != "-" and os.path.realpath(a) == os.path.realpath(b)


# --- validate, metrics, schema -----------------------------------------------------------


@cli.command(epilog="Exit codes: 0 every policy is valid, 2 a problem was found.")
@argument("paths", nargs=-1, required=True, metavar="POLICY...")
@informational
@handle_errors
def validate(paths: tuple[str, ...]) -> None:
    """Check policy files and directories; print every problem with file:line:column."""
    from gate.errors import PolicyError
    from gate.policy.loader import load_policy_files

    # The same expansion and checks as 'check --policy'; every file is reported: 'ok' lines
    # for the valid ones, then every problem of the others (exit 2).
    results = load_policy_files(paths, option="gate validate")
    for result in results:
        if result.policy is not None:
            policy = result.policy
            reads = any("." in m for r in policy.rules for m in r.condition.metrics)
            click.echo(
                f"ok  {policy.file}: policy '{policy.name}', {len(policy.rules)} rule(s), "
                f"{len(policy.waivers)} waiver(s)"
                + (
                    "; reads a baseline: check with --baseline FILE or --compare-to TAG"
                    if reads
                    else ""
                )
            )
    problems = [problem for result in results for problem in result.problems]
    if problems:
        raise PolicyError(problems)


@cli.command()
@informational
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
    from gate.policy.metrics import COMPARISONS

    click.echo("\nAgainst a baseline (gate check --baseline FILE or --compare-to TAG):")
    for prefix, meaning in COMPARISONS.items():
        click.echo(f"  {prefix + '.<metric>':<{width}}  {meaning}")
    _echo_record_metrics(width)


def _echo_record_metrics(width: int) -> None:
    from gate.policy.metrics import RECORD_AGE_FORM, RECORD_AGE_MEANING, RECORD_METRICS

    click.echo(
        "\nCounted from the image's vulnerability records (DescribeImageVulList; fetched for "
        "the images such a rule applies to; needs yundun-sas:DescribeImageVulList):"
    )
    for name, meaning in RECORD_METRICS.items():
        click.echo(f"  {name:<{width}}  {meaning}")
    click.echo(f"  {RECORD_AGE_FORM:<{width}}  {RECORD_AGE_MEANING}")


@cli.command()
@option("--tests", is_flag=True, help="Print the schema of 'gate test' files instead.")
@informational
def schema(tests: bool) -> None:
    """Print the policy JSON Schema (for editors: '# yaml-language-server: $schema=...')."""
    import json

    if tests:
        from gate.testing import schema as test_schema

        click.echo(json.dumps(test_schema(), indent=2))
        return
    from gate.policy.loader import schema as load_schema

    click.echo(json.dumps(load_schema(), indent=2))


@cli.command(
    "test",
    epilog="Exit codes: 0 every case passed, 1 a case failed (or, with --require-coverage, "
    "a coverage gap), 2 a case or a policy under test is invalid.",
)
@argument("paths", nargs=-1, metavar="[PATH...]")
@option(
    "--junit",
    "junit_path",
    metavar="PATH",
    callback=_not_empty,
    help="Write a JUnit XML report to PATH: one test case per case ('-' for stdout).",
)
@option(
    "--require-coverage",
    is_flag=True,
    help="Fail (exit 1) when a rule was not seen both failing and passing, or a waiver "
    "was not used, by some case.",
)
@informational
@handle_errors
def run_policy_tests(
    paths: tuple[str, ...], junit_path: str | None, require_coverage: bool
) -> None:
    """Run policy test cases (default: the test files in policies/tests).

    PATH... are test files or directories (their *.yaml and *.yml, not recursive). Each
    case gives the policies under test, an input (inline images or a snapshot) and the
    expected verdict, exit code, outcomes and waiver statuses; it is evaluated exactly as
    'gate check' would. Prints one line per case, a diff for each mismatch, and the rules
    and waivers no case exercised. 'gate schema --tests' prints the file format.
    """
    from gate.testing import DEFAULT_PATH, run_tests

    run = run_tests(paths or (DEFAULT_PATH,))
    if junit_path:
        from gate.testing.output import write_junit

        write_junit(run, junit_path, require_coverage=require_coverage)
    text = run.render(require_coverage=require_coverage)
    if os.environ.get("GITHUB_ACTIONS") == "true":  # mismatches on the lines of a pull request
        from gate.testing.output import github_annotations

        text += github_annotations(run, require_coverage=require_coverage)
    # The text is already safe for a terminal and a CI log (gate.testing.output).
    click.echo(text, nl=False, err=junit_path == "-")
    sys.exit(run.exit_code(require_coverage=require_coverage))


REPORT_OPTIONS = {
    "--json": "json",
    "--junit": "junit",
    "--summary": "summary",
    "--codequality": "codequality",
}


def _requested_reports(args: Sequence[str]) -> dict[str, str | None]:
    """The report paths a ``gate check`` command line asks for, read without click (which
    refused the command line): every exit 2 must replace them, never leave an old verdict."""
    found: dict[str, str | None] = {}
    command = next((a for a in args if not a.startswith("-")), None)
    if command != "check":
        return found
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            break
        option, equals, value = arg.partition("=")
        if option in REPORT_OPTIONS:
            if equals:
                found[REPORT_OPTIONS[option]] = value
            elif index + 1 < len(args):
                found[REPORT_OPTIONS[option]] = args[index + 1]
                index += 1
        index += 1
    for name in REPORT_OPTIONS.values():
        if name not in found:
            found[name] = os.environ.get(f"GATE_{name.upper()}") or None
    return {name: path for name, path in found.items() if path and path.strip()}


def _replace_reports(args: Sequence[str], error: GateError) -> None:
    paths = _requested_reports(args)
    if paths:
        from gate.report.outputs import OutputSettings, ReportFiles

        ReportFiles(paths, OutputSettings()).write_errors(error)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    global _fast_exit
    _fast_exit = True
    signals.install()
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        code = cli.main(args=args, prog_name="gate", standalone_mode=False)
    except click.ClickException as exc:  # click refused the command line: exit 2
        from gate.errors import UsageError

        _replace_reports(args, UsageError(exc.format_message()))
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        from gate.errors import EXIT_USAGE

        click.echo("aborted", err=True)
        sys.exit(EXIT_USAGE)
    except Exception as exc:
        from gate.errors import GateError

        if isinstance(exc, GateError):  # pragma: no cover - commands convert their own
            _fail(exc)
        _internal_error(args, exc)  # a bug: say so, never pass
    try:
        sys.stdout.flush()
    except OSError:  # closed after the last write (`gate --help | true`): nothing lost
        _silence(sys.stdout)
    sys.exit(code if isinstance(code, int) else 0)


def _internal_error(args: Sequence[str], exc: BaseException) -> NoReturn:
    from gate.errors import EXIT_USAGE, UsageError

    message = f"internal error: {type(exc).__name__}: {exc}"
    with contextlib.suppress(Exception):
        _replace_reports(args, UsageError(message))
    click.echo(_printable(message), err=True)
    click.echo("please report this with the command you ran", err=True)
    sys.exit(EXIT_USAGE)
