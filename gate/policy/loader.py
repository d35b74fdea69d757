"""Load policy files: YAML with positions, JSON Schema validation, then meaning.

Every problem is reported with file, line, column and JSON path, and all problems of all
files are collected before failing, so a user fixes them in one pass. Only YAML's standard
scalar tags are accepted (no ``!!python/...``), keys may not repeat, and alias expansion,
nesting and file size are bounded so a hostile file cannot exhaust memory.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from gate.errors import PolicyError, Problem
from gate.model import Enforcement, Policy, Rule, Scope, Selector, Waiver
from gate.policy import cache as validated
from gate.policy.expr import ExpressionError, compile_condition
from gate.policy.selectors import SelectorError, glob_matcher, parse_selector

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
    """Turns a composed YAML node tree into plain data, recording positions."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.visited = 0
        self.positions = _Positions({}, {})
        self.constructor = yaml.SafeLoader("")

    def problem(self, node: yaml.Node, message: str, path: PathKey) -> PolicyError:
        mark = node.start_mark
        return PolicyError(
            [Problem(self.file, mark.line + 1, mark.column + 1, message, json_path(path))]
        )

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
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise self.problem(node, f"tag '{node.tag}' is not allowed in a policy", path)
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.problem(key_node, "merge keys ('<<') are not supported", path)
                if (
                    not isinstance(key_node, yaml.ScalarNode)
                    or key_node.tag not in _STANDARD_SCALARS
                ):
                    raise self.problem(key_node, "mapping keys must be plain strings", path)
                key = str(key_node.value)
                if key in result:
                    raise self.problem(key_node, f"duplicate key '{key}'", (*path, key))
                child = (*path, key)
                self.positions.keys[child] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                result[key] = self.convert(value_node, child, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise self.problem(node, f"tag '{node.tag}' is not allowed in a policy", path)
            return [
                self.convert(item, (*path, index), depth + 1)
                for index, item in enumerate(node.value)
            ]
        assert isinstance(node, yaml.ScalarNode)
        if node.tag not in _STANDARD_SCALARS:
            raise self.problem(node, f"tag '{node.tag}' is not allowed in a policy", path)
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


def _parse_yaml(file: str, data: bytes) -> tuple[Any, _Positions]:
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
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        where: tuple[int | None, int | None] = (
            (mark.line + 1, mark.column + 1) if mark else (None, None)
        )
        raise PolicyError([Problem(file, *where, f"not valid YAML: {message}")]) from exc
    except yaml.YAMLError as exc:
        raise PolicyError([Problem(file, None, None, f"not valid YAML: {exc}")]) from exc
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
    return data_out, converter.positions


def _schema_problems(file: str, data: Any, positions: _Positions) -> list[Problem]:
    problems: list[Problem] = []
    errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        path: PathKey = tuple(error.absolute_path)
        key_position = False
        validator = error.validator
        if validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for extra in (k for k in error.instance if k not in allowed):
                close = difflib.get_close_matches(extra, allowed, n=1)
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
        if validator == "enum":
            choices = [str(c) for c in error.validator_value]
            close = difflib.get_close_matches(str(error.instance), choices, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            got = repr(error.instance) if isinstance(error.instance, str) else None
            message = (
                f"{got or _describe(error.instance)} is not valid here{hint}; "
                f"choose one of: {', '.join(choices)}"
            )
        elif validator == "required":
            missing = [k for k in error.validator_value if k not in error.instance]
            message = f"missing required key{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
        elif validator == "const" and path == ("version",):
            message = f"version must be the number 1, got {_describe(error.instance)}" + (
                " (write it without quotes)" if error.instance == "1" else ""
            )
        elif validator == "type":
            message = (
                f"expected {_type_name(error.validator_value)}, got {_describe(error.instance)}"
            )
        elif validator == "minItems" and error.validator_value == 1:
            message = "needs at least one entry, got an empty list"
        elif "errorMessage" in error.schema:
            message = str(error.schema["errorMessage"]) + f" (got {error.instance!r})"
        else:
            message = error.message
        line, column = positions.of(path, key=key_position)
        problems.append(Problem(file, line, column, message, json_path(path)))
    return problems


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


def _describe(value: Any) -> str:
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
    """Turns one schema-valid document into a :class:`Policy`, collecting problems."""

    def __init__(self, file: str, positions: _Positions, lines: list[str]) -> None:
        self.file = file
        self.positions = positions
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: PathKey, message: str) -> None:
        line, column = self.positions.of(path)
        self.problems.append(Problem(self.file, line, column, message, json_path(path)))

    def scope(self, raw: dict[str, Any] | None, path: PathKey) -> Scope:
        if not raw:
            return Scope()
        return Scope(
            namespaces=glob_matcher(raw["namespaces"]) if "namespaces" in raw else None,
            repositories=glob_matcher(raw["repositories"]) if "repositories" in raw else None,
            tags=glob_matcher(raw["tags"]) if "tags" in raw else None,
            exclude=self.selectors(raw.get("exclude", []), (*path, "exclude")),
        )

    def selectors(self, texts: Iterable[str], path: PathKey) -> tuple[Selector, ...]:
        out = []
        for index, text in enumerate(texts):
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

    def build(self, doc: dict[str, Any], bundled: bool) -> Policy | None:
        name = doc["name"]
        default = Enforcement(doc.get("defaults", {}).get("enforcement", "hard-mandatory"))
        rules: list[Rule] = []
        seen: set[str] = set()
        for index, raw in enumerate(doc["rules"]):
            path: PathKey = ("rules", index)
            if raw["id"] in seen:
                self.add((*path, "id"), f"duplicate rule id '{raw['id']}' in policy '{name}'")
                continue
            seen.add(raw["id"])
            try:
                condition = compile_condition(raw["fail_if"])
            except ExpressionError as exc:
                self.condition_problem((*path, "fail_if"), exc)
                continue
            rules.append(
                Rule(
                    id=raw["id"],
                    description=raw.get("description", "").strip(),
                    condition=condition,
                    enforcement=Enforcement(raw.get("enforcement", default.value)),
                    scope=self.scope(raw["scope"], (*path, "scope")) if "scope" in raw else None,
                    line=self.positions.of(path)[0],
                )
            )
        waivers: list[Waiver] = []
        for index, raw in enumerate(doc.get("waivers", [])):
            path = ("waivers", index)
            known_rule = raw["rule"] in seen
            if not known_rule:
                close = difflib.get_close_matches(raw["rule"], sorted(seen), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.add(
                    (*path, "rule"),
                    f"waiver names rule '{raw['rule']}', which policy '{name}' does not have{hint}",
                )
            selectors = self.selectors(raw["images"], (*path, "images"))
            try:
                expires = dt.date.fromisoformat(raw["expires"])
            except ValueError:
                self.add((*path, "expires"), f"'{raw['expires']}' is not a real date (YYYY-MM-DD)")
                continue
            if known_rule:
                waivers.append(
                    Waiver(
                        policy=name,
                        rule=raw["rule"],
                        selectors=selectors,
                        reason=raw["reason"].strip(),
                        expires=expires,
                        owner=raw.get("owner"),
                    )
                )
        scope = self.scope(doc.get("scope"), ("scope",))
        if self.problems:
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


def parse_policy(file: str, data: bytes, *, bundled: bool = False) -> Policy:
    """Parse one policy document; raise :class:`PolicyError` with every problem found."""
    return _parse_located(file, data, bundled=bundled)[0]


def _parse_located(file: str, data: bytes, *, bundled: bool = False) -> tuple[Policy, _Positions]:
    doc, positions = _parse_yaml(file, data)
    marker = validated.marker(schema_bytes(), data)
    if not validated.known_valid(marker):  # see gate.policy.cache: spares importing jsonschema
        problems = _schema_problems(file, doc, positions)
        if problems:
            raise PolicyError(sorted(problems, key=_position))
        validated.remember_valid(marker)
    builder = _Builder(file, positions, data.decode("utf-8").splitlines())
    policy = builder.build(doc, bundled)
    if policy is None:
        raise PolicyError(sorted(builder.problems, key=_position))
    return policy, positions


def expand_paths(paths: Sequence[str]) -> tuple[list[Path], list[Problem]]:
    """Files as given, and ``*.yaml``/``*.yml`` of directories (sorted, not recursive)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
            )
            if not found:
                problems.append(
                    Problem(raw, None, None, "directory has no *.yaml or *.yml policy files")
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
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


def load_policies(paths: Sequence[str]) -> tuple[Policy, ...]:
    """Load every policy named by ``paths``; all problems of all files are raised together."""
    files, problems = expand_paths(paths)
    policies: list[Policy] = []
    names: dict[str, str] = {}
    seen: set[Path] = set()
    for path in files:
        if path.resolve() in seen:  # named twice (e.g. a file and its directory): load once
            continue
        seen.add(path.resolve())
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(Problem(str(path), None, None, f"cannot read: {exc.strerror}"))
            continue
        try:
            policy, positions = _parse_located(str(path), data)
        except PolicyError as exc:
            problems.extend(exc.problems)
            continue
        if policy.name in names:
            problems.append(
                Problem(
                    str(path),
                    *positions.of(("name",)),
                    f"policy name '{policy.name}' is already used by {names[policy.name]}; "
                    "names must be unique",
                    "$.name",
                )
            )
            continue
        names[policy.name] = str(path)
        policies.append(policy)
    if problems:
        raise PolicyError(problems)
    return tuple(policies)
