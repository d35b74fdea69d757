"""Load policy files: YAML with positions, JSON Schema validation, then meaning.

Every problem is reported with file, line, column and JSON path, and all problems of all
files are collected before failing, so a user fixes them in one pass. Only YAML's standard
scalar tags are accepted (no ``!!python/...``), keys may not repeat, and alias expansion,
nesting and file size are bounded so a hostile file cannot exhaust memory.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import PolicyError, Problem, UsageError
from gate.model import Enforcement, Policy, Rule, Scope, Selector, Waiver
from gate.policy import cache as validated
from gate.policy.expr import ExpressionError, compile_condition
from gate.policy.selectors import (
    SelectorError,
    glob_matcher,
    parse_selector,
    scope_namespace_matcher,
)

if TYPE_CHECKING:  # imported where a file is parsed: a stored document needs no YAML
    import yaml

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64

_STANDARD_SCALARS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

PathKey = tuple[str | int, ...]


def _close_matches(word: str, choices: Iterable[str], n: int = 1) -> list[str]:
    """difflib's suggestions, imported only when a problem needs one (1 ms of every run)."""
    import difflib

    return difflib.get_close_matches(word, list(choices), n=n)


def json_path(path: PathKey) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@dataclass
class _Positions:
    """Where each value (and each mapping key) of a document stands in its file."""

    values: dict[PathKey, tuple[int, int]]
    keys: dict[PathKey, tuple[int, int]]

    def of(self, path: PathKey, *, key: bool = False) -> tuple[int | None, int | None]:
        table = self.keys if key else self.values
        probe = path
        while True:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return None, None
            probe = probe[:-1]


class _Converter:
    """Turns a composed YAML node tree into plain data, recording positions.

    Size and nesting limits end the conversion; other problems (a duplicate key, a tag or
    key that is not allowed) are collected in ``problems`` so the rest of the document is
    still checked. The value at a path in ``broken`` was dropped (None stands in for it), and
    a mapping at a path in ``incomplete`` lost keys (to a merge key), so the schema's
    complaints about them would only repeat the problem.
    """

    def __init__(self, file: str) -> None:
        import yaml

        self.file = file
        self.visited = 0
        self.positions = _Positions({}, {})
        self.constructor = yaml.SafeLoader("")
        self.nodes = (yaml.MappingNode, yaml.SequenceNode, yaml.ScalarNode)
        self.problems: list[Problem] = []
        self.broken: set[PathKey] = set()
        self.incomplete: set[PathKey] = set()

    def located(self, node: yaml.Node, message: str, path: PathKey) -> Problem:
        mark = node.start_mark
        return Problem(self.file, mark.line + 1, mark.column + 1, message, json_path(path))

    def problem(self, node: yaml.Node, message: str, path: PathKey) -> PolicyError:
        return PolicyError([self.located(node, message, path)])

    def note(self, node: yaml.Node, message: str, path: PathKey) -> None:
        self.problems.append(self.located(node, message, path))

    def disallowed(self, node: yaml.Node, path: PathKey) -> None:
        self.note(node, f"tag '{node.tag}' is not allowed in a policy", path)
        self.broken.add(path)

    def convert(self, node: yaml.Node, path: PathKey, depth: int = 0) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise self.problem(
                node,
                f"document expands to more than {MAX_NODES} values "
                "(aliases referring to aliases?); policies are small, simplify this file",
                path,
            )
        if depth > MAX_DEPTH:
            raise self.problem(node, f"document nests deeper than {MAX_DEPTH} levels", path)
        self.positions.values.setdefault(
            path, (node.start_mark.line + 1, node.start_mark.column + 1)
        )
        mapping, sequence, scalar = self.nodes
        if isinstance(node, mapping):
            if node.tag != _MAP:
                self.disallowed(node, path)
                return None
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.note(key_node, "merge keys ('<<') are not supported", path)
                    self.incomplete.add(path)
                    continue
                if not isinstance(key_node, scalar) or key_node.tag not in _STANDARD_SCALARS:
                    self.note(key_node, "mapping keys must be plain strings", path)
                    continue
                key = str(key_node.value)
                if key in result:
                    self.note(key_node, f"duplicate key '{key}'", (*path, key))
                    continue
                child = (*path, key)
                self.positions.keys[child] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                result[key] = self.convert(value_node, child, depth + 1)
            return result
        if isinstance(node, sequence):
            if node.tag != _SEQ:
                self.disallowed(node, path)
                return None
            return [
                self.convert(item, (*path, index), depth + 1)
                for index, item in enumerate(node.value)
            ]
        assert isinstance(node, scalar)
        if node.tag not in _STANDARD_SCALARS:
            self.disallowed(node, path)
            return None
        if node.tag == "tag:yaml.org,2002:timestamp":
            return str(node.value)  # dates stay as written; the schema checks their shape
        return self.constructor.construct_object(node)


# Beside this module, read as a plain file: importlib.resources costs 10 ms at start-up.
SCHEMA_PATH = Path(__file__).with_name("schema.json")


@cache
def schema_bytes() -> bytes:
    return SCHEMA_PATH.read_bytes()


@cache
def schema() -> dict[str, Any]:
    """The policy JSON Schema shipped in the package."""
    loaded: dict[str, Any] = json.loads(schema_bytes())
    return loaded


@cache
def _validator() -> Any:
    import jsonschema  # only the policy path pays for it

    return jsonschema.Draft202012Validator(schema())


def parse_yaml(file: str, data: bytes) -> tuple[Any, _Converter]:
    """The document as plain data, and the converter that holds its positions and problems."""
    if len(data) > MAX_FILE_BYTES:
        raise PolicyError(
            [Problem(file, None, None, f"file is larger than {MAX_FILE_BYTES // 1024} KiB")]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PolicyError(
            [Problem(file, line, column, "file is not valid UTF-8 text; save it as UTF-8")]
        ) from exc
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise PolicyError([_yaml_problem(file, text, exc)]) from exc
    except RecursionError as exc:
        raise PolicyError([Problem(file, None, None, "document nests too deeply")]) from exc
    if node is None:
        raise PolicyError(
            [Problem(file, 1, 1, "file is empty; a policy needs version, name and rules")]
        )
    converter = _Converter(file)
    try:
        data_out = converter.convert(node, ())
    except RecursionError as exc:
        raise PolicyError([Problem(file, None, None, "document nests too deeply")]) from exc
    return data_out, converter


def _yaml_problem(file: str, text: str, exc: yaml.YAMLError) -> Problem:
    """A YAML syntax error in words a policy author can act on, located at file:line:column."""
    import yaml

    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return Problem(
            file,
            line,
            column,
            f"not valid YAML: character U+{exc.character:04X} is not allowed in a YAML file; "
            "remove it",
        )
    if not isinstance(exc, yaml.MarkedYAMLError):
        return Problem(file, None, None, f"not valid YAML: {exc}")
    problem = str(exc.problem or "")
    context = str(exc.context or "")
    mark = exc.problem_mark or exc.context_mark
    start = exc.context_mark
    since = f" (opened at line {start.line + 1})" if start is not None else ""
    advice: str | None = None
    if problem.startswith("found character '\\t'"):
        lines = text.splitlines()
        before = lines[mark.line][: mark.column] if mark and mark.line < len(lines) else ""
        if before.strip() == "":
            advice = "tab character used for indentation; YAML indents with spaces: replace the tab"
        else:
            advice = "tab character where YAML expects a value; use spaces instead of tabs"
    elif problem.startswith("found character") and "cannot start any token" in problem:
        char = problem.split("'")[1] if problem.count("'") >= 2 else "this character"
        advice = (
            f"a plain YAML value cannot start with '{char}'; put the value in quotes "
            f"(e.g. '{char}...')"
        )
    elif problem == "mapping values are not allowed here":
        advice = (
            "unexpected ':' here; if the value contains ': ', put the whole value in quotes, "
            "otherwise indent this line like the other keys of its mapping"
        )
    elif problem == "could not find expected ':'":
        mark = start or mark  # where the key without a colon starts
        advice = (
            "expected 'key: value' here but found no ':'; add the colon (with a space after it), "
            "or indent a continued value further than its key"
        )
    elif problem.startswith("expected <block end>, but found '<scalar>'"):
        advice = (
            "unexpected text after the value on this line; if a quoted value goes on after its "
            "closing quote, quote the whole value"
        )
    elif problem.startswith("expected <block end>"):
        item = "'-' list item" if "<block sequence start>" in problem else "line"
        advice = (
            f"this {item} is indented differently from the block it belongs to{since}; "
            "keys of one mapping, and the '-' items of one list, start at the same column"
        )
    elif problem.startswith(("expected ',' or ']'", "expected ',' or '}'")):
        close = "]" if "]" in problem.split(",", 1)[1] else "}"
        opener = "[" if close == "]" else "{"
        opened = f"at line {start.line + 1}" if start is not None else "earlier"
        advice = (
            f"the '{opener}' opened {opened} is not closed before this point; separate its "
            f"items with ',' and end it with '{close}'"
        )
    elif problem == "found unexpected end of stream" and "quoted scalar" in context:
        mark = start or mark
        advice = "this quoted value is never closed; add the closing quote"
    elif problem.startswith("found unknown escape character"):
        advice = (
            f"{problem.removeprefix('found ')} in a double-quoted value; use single quotes, "
            "or write a backslash as '\\\\'"
        )
    elif problem.startswith("found undefined alias"):
        name = problem.split("'")[1] if problem.count("'") >= 2 else "?"
        advice = (
            f"'*{name}' refers to an anchor '&{name}' that is not defined; a value that starts "
            "with '*' must be quoted"
        )
    elif problem == "but found another document":
        advice = (
            "the file holds more than one YAML document ('---'); put each policy in its own file"
        )
    if advice is None:
        advice = " ".join(p for p in (context, problem) if p)
    where: tuple[int | None, int | None] = (
        (mark.line + 1, mark.column + 1) if mark else (None, None)
    )
    return Problem(file, *where, f"not valid YAML: {advice}")


def _schema_problems(
    file: str, data: Any, converted: _Converter
) -> tuple[list[Problem], frozenset[PathKey]]:
    """Every schema problem, and the paths whose values the meaning checks must not use.

    A missing or an unknown key is a problem of its mapping, not of the mapping's other
    values: those stay usable, so a rule without an id still gets its fail_if checked.
    Values the converter already rejected are not reported again.
    """
    positions = converted.positions
    problems: list[Problem] = []
    broken: set[PathKey] = set()
    errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        path: PathKey = tuple(error.absolute_path)
        if path in converted.broken or (
            error.validator == "required" and path in converted.incomplete
        ):
            continue
        if error.validator not in ("required", "additionalProperties"):
            broken.add(path)
        key_position = False
        validator = error.validator
        if validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for extra in (k for k in error.instance if k not in allowed):
                close = _close_matches(extra, allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                line, column = positions.of((*path, extra), key=True)
                problems.append(
                    Problem(
                        file,
                        line,
                        column,
                        f"unknown key '{extra}'{hint}; allowed here: {', '.join(allowed)}",
                        json_path((*path, extra)),
                    )
                )
            continue
        common = schema_message(error)
        if common is not None:
            message = common
        elif validator == "const" and path == ("version",):
            message = f"version must be the number 1, got {describe(error.instance)}" + (
                " (write it without quotes)" if error.instance == "1" else ""
            )
        elif "errorMessage" in error.schema:
            message = str(error.schema["errorMessage"]) + f" (got {error.instance!r})"
        else:
            message = error.message
        line, column = positions.of(path, key=key_position)
        problems.append(Problem(file, line, column, message, json_path(path)))
    return problems, frozenset(broken)


def _type_name(expected: Any) -> str:
    names = {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "integer": "an integer",
    }
    if isinstance(expected, list):
        return " or ".join(names.get(str(t), str(t)) for t in expected)
    return names.get(str(expected), str(expected))


def schema_message(error: Any) -> str | None:
    """Plain words for the common JSON Schema errors (a wrong choice, a missing key, a wrong
    type, an empty list), shared by policy files and policy test files; ``None`` otherwise."""
    validator = error.validator
    if validator == "enum":
        choices = [str(c) for c in error.validator_value]
        close = _close_matches(str(error.instance), choices, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        got = repr(error.instance) if isinstance(error.instance, str) else None
        return (
            f"{got or describe(error.instance)} is not valid here{hint}; "
            f"choose one of: {', '.join(choices)}"
        )
    if validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"missing required key{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
    if validator == "type":
        return f"expected {_type_name(error.validator_value)}, got {describe(error.instance)}"
    if validator == "minItems" and error.validator_value == 1:
        return "needs at least one entry, got an empty list"
    return None


def describe(value: Any) -> str:
    """A value from a YAML document in words, for messages ("a boolean (true)")."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


class _Builder:
    """Checks the meaning of one document and, when it is fully valid, builds its :class:`Policy`.

    The meaning checks (rule ids, fail_if expressions, selectors, waiver rules and dates) also
    run on a document with schema problems, on every value the schema did not reject, so one
    run reports every problem that can be found. ``broken`` holds the paths of rejected values;
    a Policy is built only when ``complete`` (the schema accepted the whole document).
    """

    def __init__(
        self,
        file: str,
        positions: _Positions,
        lines: list[str],
        *,
        broken: frozenset[PathKey] = frozenset(),
        complete: bool = True,
    ) -> None:
        self.file = file
        self.positions = positions
        self.lines = lines
        self.broken = broken
        self.complete = complete
        self.problems: list[Problem] = []

    def add(self, path: PathKey, message: str) -> None:
        line, column = self.positions.of(path)
        self.problems.append(Problem(self.file, line, column, message, json_path(path)))

    def usable(self, value: Any, path: PathKey, kind: type) -> bool:
        return isinstance(value, kind) and path not in self.broken

    def get(self, mapping: Any, key: str, path: PathKey, kind: type) -> Any:
        """``mapping[key]`` when it is there, of ``kind`` and not rejected by the schema."""
        if not isinstance(mapping, dict) or key not in mapping:
            return None
        value = mapping[key]
        return value if self.usable(value, (*path, key), kind) else None

    def scope(self, raw: Any, path: PathKey) -> Scope:
        if not self.usable(raw, path, dict) or not raw:
            return Scope()
        exclude = self.selectors(self.get(raw, "exclude", path, list) or [], (*path, "exclude"))
        if not self.complete:
            return Scope()
        return Scope(
            namespaces=scope_namespace_matcher(raw["namespaces"]) if "namespaces" in raw else None,
            repositories=glob_matcher(raw["repositories"]) if "repositories" in raw else None,
            tags=glob_matcher(raw["tags"]) if "tags" in raw else None,
            exclude=exclude,
        )

    def waiver_cves(
        self, raw: dict[str, Any], path: PathKey, rule: str | None, rules: Sequence[Rule]
    ) -> tuple[str, ...]:
        """A waiver's ``cves``: vulnerability ids, only for rules on vulnerability records."""
        ids = self.get(raw, "cves", path, list) or []
        cves = tuple(dict.fromkeys(str(i).strip() for i in ids if isinstance(i, str)))
        if not cves or rule is None:
            return cves
        from gate.policy.metrics import record_metric

        target = next((r for r in rules if r.id == rule), None)
        if target is not None and not any(map(record_metric, target.condition.metrics)):
            self.add(
                (*path, "cves"),
                f"a waiver with cves excludes vulnerability records from record metrics "
                f"(fixableVulAsap, vulAsapOlderThan30d, ...), but rule '{rule}' reads none; "
                "waive the rule on images instead (images: [...] without cves)",
            )
        return tuple(c.upper() if c.upper().startswith("CVE-") else c for c in cves)

    def selectors(self, texts: Iterable[Any], path: PathKey) -> tuple[Selector, ...]:
        out = []
        for index, text in enumerate(texts):
            if not self.usable(text, (*path, index), str):
                continue
            try:
                out.append(parse_selector(text))
            except SelectorError as exc:
                self.add((*path, index), str(exc))
        return tuple(out)

    def condition_problem(self, path: PathKey, exc: ExpressionError) -> None:
        line, column = self.positions.of(path)
        if line is not None and column is not None:
            # Point into the expression when it sits on one line as written in the file.
            text = self.lines[line - 1] if line - 1 < len(self.lines) else ""
            start = text.find(exc.source, column - 1) if exc.source else -1
            if start >= 0:
                column = start + exc.offset + 1
        detail = f"in fail_if: {exc.reason}\n      {exc.display}\n      {' ' * exc.offset}^"
        self.problems.append(Problem(self.file, line, column, detail, json_path(path)))

    def build(self, doc: Any, bundled: bool) -> Policy | None:
        if not self.usable(doc, (), dict):
            return None
        name = self.get(doc, "name", (), str)
        called = f"policy '{name}'" if name is not None else "this policy"
        defaults = self.get(doc, "defaults", (), dict) or {}
        default = self.get(defaults, "enforcement", ("defaults",), str) or "hard-mandatory"
        rules: list[Rule] = []
        seen: set[str] = set()
        every_id_known = True  # else a waiver may name a rule whose id could not be read
        for index, raw in enumerate(self.get(doc, "rules", (), list) or []):
            path: PathKey = ("rules", index)
            if not self.usable(raw, path, dict):
                every_id_known = False
                continue
            rule_id = self.get(raw, "id", path, str)
            duplicate = rule_id is not None and rule_id in seen
            if rule_id is None:
                every_id_known = False
            elif duplicate:
                self.add((*path, "id"), f"duplicate rule id '{rule_id}' in {called}")
            else:
                seen.add(rule_id)
            source = self.get(raw, "fail_if", path, str)
            condition = None
            if source is not None:
                try:
                    condition = compile_condition(source)
                except ExpressionError as exc:
                    self.condition_problem((*path, "fail_if"), exc)
            scope = self.scope(raw["scope"], (*path, "scope")) if "scope" in raw else None
            if self.complete and condition is not None and not duplicate:
                rules.append(
                    Rule(
                        id=raw["id"],
                        description=raw.get("description", "").strip(),
                        condition=condition,
                        enforcement=Enforcement(raw.get("enforcement", default)),
                        scope=scope,
                        line=self.positions.of(path)[0],
                    )
                )
        waivers: list[Waiver] = []
        for index, raw in enumerate(self.get(doc, "waivers", (), list) or []):
            path = ("waivers", index)
            if not self.usable(raw, path, dict):
                continue
            rule = self.get(raw, "rule", path, str)
            known_rule = rule is not None and rule in seen
            if rule is not None and not known_rule and every_id_known:
                close = _close_matches(rule, sorted(seen), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.add(
                    (*path, "rule"),
                    f"waiver names rule '{rule}', which {called} does not have{hint}",
                )
            selectors = self.selectors(self.get(raw, "images", path, list) or [], (*path, "images"))
            cves = self.waiver_cves(raw, path, rule if known_rule else None, rules)
            if cves and "images" not in raw:
                selectors = (Selector("*/*", _any_image),)
            written = self.get(raw, "expires", path, str)
            if written is None:
                continue
            try:
                expires = dt.date.fromisoformat(written)
            except ValueError:
                self.add((*path, "expires"), f"'{written}' is not a real date (YYYY-MM-DD)")
                continue
            if self.complete and known_rule:
                waivers.append(
                    Waiver(
                        policy=name,
                        rule=raw["rule"],
                        selectors=selectors,
                        reason=raw["reason"].strip(),
                        expires=expires,
                        owner=raw.get("owner"),
                        cves=cves,
                    )
                )
        scope = self.scope(doc["scope"], ("scope",)) if "scope" in doc else Scope()
        if self.problems or not self.complete or name is None:
            return None
        return Policy(
            name=name,
            description=doc.get("description", "").strip(),
            file=self.file,
            scope=scope,
            rules=tuple(rules),
            waivers=tuple(waivers),
            bundled=bundled,
        )


def _position(problem: Problem) -> tuple[int, int]:
    return (problem.line or 0, problem.column or 0)


@dataclass(frozen=True)
class PolicyFile:
    """What loading one file found: its policy, or every problem in it (never both).

    ``name`` is the policy name as written, when it could be read even from an invalid file
    (to find names used twice); ``name_at`` is its line and column.
    """

    file: str
    policy: Policy | None
    problems: tuple[Problem, ...] = ()
    name: str | None = None
    name_at: tuple[int | None, int | None] = (None, None)


def _examine(file: str, data: bytes, *, bundled: bool = False) -> PolicyFile:
    """Every problem of one file (YAML, schema and meaning), or its policy."""
    marker = validated.marker(schema_bytes(), data)
    stored = validated.stored_document(marker)  # see gate.policy.cache
    if stored is not None:  # these bytes parsed and validated cleanly before
        doc, values, keys = stored
        positions = _Positions(values, keys)
        problems: list[Problem] = []
        broken: frozenset[PathKey] = frozenset()
    else:
        try:
            doc, converted = parse_yaml(file, data)
        except PolicyError as exc:
            return PolicyFile(file, None, tuple(exc.problems))
        positions = converted.positions
        problems = list(converted.problems)
        broken = frozenset(converted.broken)
        if not validated.known_valid(marker):  # spares importing jsonschema
            found, rejected = _schema_problems(file, doc, converted)
            problems.extend(found)
            broken |= rejected
        if not problems:
            validated.remember_valid(marker, (doc, positions.values, positions.keys))
    builder = _Builder(
        file,
        positions,
        data.decode("utf-8").splitlines(),
        broken=broken,
        complete=not problems,
    )
    policy = builder.build(doc, bundled)
    problems = sorted([*problems, *builder.problems], key=_position)
    name = builder.get(doc, "name", (), str)
    return PolicyFile(
        file,
        policy if not problems else None,
        tuple(problems),
        name,
        positions.of(("name",)) if name is not None else (None, None),
    )


def parse_policy(file: str, data: bytes, *, bundled: bool = False) -> Policy:
    """Parse one policy document; raise :class:`PolicyError` with every problem found."""
    examined = _examine(file, data, bundled=bundled)
    if examined.policy is None:
        raise PolicyError(list(examined.problems))
    return examined.policy


POLICY_SUFFIXES = (".yaml", ".yml")


def _is_policy_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(POLICY_SUFFIXES)


def _unusable_entry(path: Path) -> str | None:
    """Why a directory entry named like a policy cannot be loaded as one (None: it can)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return f"symbolic link to '{os.readlink(path)}', which does not exist"
        return "no such file (removed while loading?)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link that points back to itself (a loop)"
        return f"cannot read: {exc.strerror}"
    if stat.S_ISDIR(mode):
        return "is a directory, and directories are not searched recursively; name it on its own"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def expand_paths(
    paths: Sequence[str], *, option: str = "--policy"
) -> tuple[list[Path], list[Problem]]:
    """Files as given, and the policy files of directories, with a problem for each path
    that names nothing loadable.

    In a directory, a policy file is an entry whose name ends in ``.yaml`` or ``.yml`` in
    any letter case and does not start with ``.`` (hidden files, editor lock files), sorted
    by name. Subdirectories are not searched: a folder such as ``policies/tests/`` holds
    other YAML. An entry named like a policy that cannot be read (a dangling symbolic link, a
    loop, a directory or device) is a problem, never skipped. ``option`` names the source of
    ``paths`` in the message about an empty one.
    """
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        if raw == "":
            hint = None
            if option == "--policy":
                hint = (
                    "an empty entry in GATE_POLICY (e.g. a trailing ':') is an empty --policy too"
                )
            raise UsageError(
                f"an empty path was given to {option}; name a policy file or directory "
                "(use '.' for the current directory)",
                hint=hint,
            )
        path = Path(raw)
        if path.is_dir():
            try:
                entries = sorted(p for p in path.iterdir() if _is_policy_name(p.name))
            except OSError as exc:
                problems.append(Problem(raw, None, None, f"cannot list: {exc.strerror}"))
                continue
            if not entries:
                problems.append(
                    Problem(raw, None, None, "directory has no *.yaml or *.yml policy files")
                )
            for entry in entries:
                reason = _unusable_entry(entry)
                if reason is None:
                    files.append(entry)
                else:
                    problems.append(Problem(str(entry), None, None, reason))
        elif path.is_file():
            files.append(path)
        elif path.is_symlink():
            problems.append(Problem(raw, None, None, _unusable_entry(path) or "cannot read"))
        elif path.exists():
            problems.append(Problem(raw, None, None, "not a regular file or directory"))
        else:
            problems.append(Problem(raw, None, None, "no such file or directory"))
    return files, problems


def bundled_policy_dir() -> Path:
    """The bundled ``policies/`` folder: inside the wheel, or beside the package in a checkout."""
    installed = Path(__file__).resolve().parents[1] / "_policies"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "policies"


def load_default() -> tuple[Policy, ...]:
    path = bundled_policy_dir() / "default.yaml"
    return (parse_policy("policies/default.yaml", path.read_bytes(), bundled=True),)


def load_policy_files(paths: Sequence[str], *, option: str = "--policy") -> tuple[PolicyFile, ...]:
    """Load every file named by ``paths`` (see :func:`expand_paths`), each with every problem
    found in it; paths that name nothing loadable come first, as files with a problem.

    Raises :class:`UsageError` for an empty path. Policy names must be unique: a file that
    reuses a name seen in an earlier file gets a problem.
    """
    files, problems = expand_paths(paths, option=option)
    results = [PolicyFile(problem.file, None, (problem,)) for problem in problems]
    names: dict[str, str] = {}
    seen: set[Path] = set()
    for path in files:
        if path.resolve() in seen:  # named twice (e.g. a file and its directory): load once
            continue
        seen.add(path.resolve())
        try:
            data = path.read_bytes()
        except OSError as exc:
            problem = Problem(str(path), None, None, f"cannot read: {exc.strerror}")
            results.append(PolicyFile(str(path), None, (problem,)))
            continue
        result = _examine(str(path), data)
        if result.name is not None and result.name in names:
            clash = Problem(
                str(path),
                *result.name_at,
                f"policy name '{result.name}' is already used by {names[result.name]}; "
                "names must be unique",
                "$.name",
            )
            result = PolicyFile(
                result.file,
                None,
                tuple(sorted([*result.problems, clash], key=_position)),
                result.name,
                result.name_at,
            )
        elif result.name is not None:
            names[result.name] = str(path)
        results.append(result)
    return tuple(results)


def load_policies(paths: Sequence[str], *, option: str = "--policy") -> tuple[Policy, ...]:
    """Load every policy named by ``paths``; all problems of all files are raised together."""
    results = load_policy_files(paths, option=option)
    problems = [problem for result in results for problem in result.problems]
    if problems:
        raise PolicyError(problems)
    return tuple(result.policy for result in results if result.policy is not None)


def _any_image(image: Any) -> bool:
    """The images of a vulnerability waiver that names none: every image."""
    return True
