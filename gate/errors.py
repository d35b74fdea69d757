"""The one error tree of the gate.

Every failure that reaches a user is a :class:`GateError`. Library code raises the most
specific subclass (wrapping lower-level exceptions with ``raise ... from exc``); the CLI
catches ``GateError`` once, prints :meth:`GateError.render` and exits with ``exit_code``.

Exit codes: 0 pass, 1 gate failed, 2 usage or policy error, 3 data unavailable.
"""

from __future__ import annotations

from typing import NamedTuple

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_DATA = 3


class GateError(Exception):
    """Base of every error the gate reports to a person."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """The text shown to the user: what went wrong, then what to do next."""
        text = self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UsageError(GateError):
    """The command line or environment asks for something impossible (exit 2)."""

    exit_code = EXIT_USAGE


class Problem(NamedTuple):
    """One problem found in a policy file, located as precisely as we can.

    (A named tuple rather than a dataclass: 'gate --help' then need not import dataclasses.)
    """

    file: str
    line: int | None
    column: int | None
    message: str
    json_path: str = ""

    def render(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        path = f" [{self.json_path}]" if self.json_path else ""
        first, newline, rest = self.message.partition("\n")
        return f"{where}: {first}{path}{newline}{rest}"


class PolicyError(GateError):
    """One or more policy files are invalid (exit 2). Carries every problem found."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[Problem], *, hint: str | None = None) -> None:
        self.problems = problems
        count = len(problems)
        head = "invalid policy" if count == 1 else f"invalid policies ({count} problems)"
        body = "\n".join("  " + p.render() for p in problems)
        super().__init__(f"{head}:\n{body}", hint=hint)


class SourceError(GateError):
    """The ranking could not be obtained or read (exit 3). Nothing was evaluated."""

    exit_code = EXIT_DATA

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        recommend: str | None = None,
    ) -> None:
        self.code = code
        self.status = status
        self.request_id = request_id
        self.recommend = recommend
        details = []
        if code:
            details.append(f"code {code}")
        if status is not None:
            details.append(f"HTTP {status}")
        if request_id:
            details.append(f"request id {request_id}")
        if details:
            message = f"{message} ({', '.join(details)})"
        if recommend:
            message = f"{message}; see {recommend}"
        super().__init__(message, hint=hint)


class OutputError(GateError):
    """A report could not be written (exit 2: the run's configuration is unusable)."""

    exit_code = EXIT_USAGE
