"""Read test files: YAML with positions (the policy loader's parser), the test-file JSON
Schema, then meaning.

Every problem of every case in every file is collected with ``file:line:column`` and JSON
path, so a user fixes them in one pass. A case with a problem is invalid; the other cases
of its file still run. A problem outside ``cases`` (the file's ``version``, ``policies``,
``now``) makes every case of the file invalid.

Inline images become an API response body: every ``RiskLevelDetail`` counter and every
numeric image field defaults to 0, ``ranked_in`` to ``[VulAsap]``, the digest to the SHA-256
of the image name, the ``Uuid`` to ``gate-test-N``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import GateError, PolicyError, Problem, UsageError
from gate.policy import loader
from gate.policy.metrics import CATALOGUE, DETAIL_COUNTERS, IMAGE_FIELDS

if TYPE_CHECKING:
    from gate.model import Policy
    from gate.run import CheckRequest

PathKey = tuple[str | int, ...]

NOT_CHECKED = "not-checked"
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Where:
    """A place in a test or policy file."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = self.file
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text

    def problem(self, message: str, path: PathKey | None = None) -> Problem:
        where = loader.json_path(path) if path is not None else ""
        return Problem(self.file, self.line, self.column, message, where)


@dataclass(frozen=True)
class InlineImage:
    """One image of a case's inline ranking."""

    name: str
    namespace: str
    repository: str
    tag: str
    counters: Mapping[str, Any]
    ranked_in: tuple[str, ...]
    digest: str
    uuid: str
    image_id: str

    def record(self) -> dict[str, Any]:
        """The image as the API lists it; a counter set to ``None`` is left out."""
        detail: dict[str, Any] = dict.fromkeys(DETAIL_COUNTERS, 0)
        fields: dict[str, Any] = dict.fromkeys(IMAGE_FIELDS, 0)
        for name, value in self.counters.items():
            (fields if name in IMAGE_FIELDS else detail)[name] = value
        return {
            "Uuid": self.uuid,
            "Digest": self.digest,
            "Tag": self.tag,
            "ImageId": self.image_id,
            "RepoName": self.repository,
            "RepoNamespace": self.namespace,
            **{name: value for name, value in fields.items() if value is not None},
            "RiskLevelDetail": json.dumps(
                {name: value for name, value in detail.items() if value is not None}
            ),
        }


@dataclass(frozen=True)
class ExpectedResult:
    image: str
    rule: str
    """``POLICY/RULE``."""
    outcome: str
    where: Where


@dataclass(frozen=True)
class ExpectedWaiver:
    key: str
    """``POLICY/RULE``, or ``POLICY/RULE on SELECTORS``."""
    status: str
    where: Where


@dataclass(frozen=True)
class Case:
    """One valid test case: what to run and what to expect."""

    file: str
    index: int
    name: str
    where: Where
    policies: tuple[str, ...]
    images: tuple[InlineImage, ...] | None
    snapshot: str | None
    now: dt.date | None
    override: str | None
    namespaces: tuple[str, ...]
    all_namespaces: bool
    image_refs: tuple[str, ...]
    unranked: str
    require_images: bool
    verdict: str | None
    exit_code: int | None
    results: tuple[ExpectedResult, ...]
    waivers: tuple[ExpectedWaiver, ...]
    expect_where: Mapping[str, Where] = field(default_factory=dict, compare=False)
    """Where ``verdict`` and ``exit_code`` are expected."""
    policies_where: Where = field(default=Where(""), compare=False)
    """Where the policies under test are named (in the case, or at the top of the file)."""
    input_where: Where = field(default=Where(""), compare=False)
    """Where the input (``images`` or ``snapshot``) is given."""
    known_images: frozenset[str] | None = field(default=None, compare=False)
    """Names an expectation may use (inline images and image_refs); ``None``: any."""

    def request(self, policies: tuple[Policy, ...]) -> CheckRequest:
        """The :class:`~gate.run.CheckRequest` that ``gate check`` would build for this case."""
        from gate.run import CheckRequest

        body: dict[str, Any] | None = None
        if self.images is not None:
            lists: dict[str, list[dict[str, Any]]] = {"VulAsap": [], "Baseline": []}
            for image in self.images:
                for list_name in image.ranked_in:
                    lists[list_name].append(image.record())
            body = {"RequestId": "gate-test", "RiskRankInfo": lists}
        selects = self.namespaces or self.all_namespaces or self.image_refs
        return CheckRequest(
            loaded_policies=policies,
            namespaces=self.namespaces,
            all_namespaces=self.all_namespaces or not selects,
            images=self.image_refs,
            unranked=self.unranked,
            body=body,
            body_label=f"{self.where} (inline images)",
            snapshot=self.snapshot,
            now=self.now,
            override=self.override,
            require_images=self.require_images,
        )


@dataclass(frozen=True)
class InvalidCase:
    """A case (or, with ``name`` None, a whole file) that cannot run, and why."""

    file: str
    name: str | None
    where: Where
    problems: tuple[Problem, ...]
    case: Case | None = None
    """The case as far as it could be read: its expectations are checked against its
    policies too, so every problem is listed at once."""


Entry = Case | InvalidCase

SCHEMA_PATH = Path(__file__).with_name("schema.json")


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_bytes())
    return jsonschema.Draft202012Validator(schema)


def find_files(paths: Sequence[str]) -> list[str]:
    """Files as given, and the ``*.yaml``/``*.yml`` of directories (sorted, not recursive)."""
    files: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
            if not found:
                raise UsageError(
                    f"{raw}: the directory has no *.yaml or *.yml test files",
                    hint="write test cases there (see 'gate schema --tests'), or name other paths",
                )
            files.extend(str(p) for p in found)
        elif path.is_file():
            files.append(raw)
        else:
            raise UsageError(
                f"{raw}: no such file or directory",
                hint="'gate test' reads policies/tests by default; give the test files or "
                "directories to run",
            )
    return list(dict.fromkeys(files))


def load_file(file: str) -> list[Entry]:
    """Every case of one test file, valid or not, in file order."""
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        problem = Problem(file, None, None, f"cannot read: {exc.strerror or exc}")
        return [InvalidCase(file, None, Where(file), (problem,))]
    if not data.strip():
        problem = Problem(file, 1, 1, "file is empty; a test file needs version and cases")
        return [InvalidCase(file, None, Where(file, 1, 1), (problem,))]
    try:
        doc, positions, noted = parse_yaml(file, data)
    except PolicyError as exc:
        return [InvalidCase(file, None, Where(file), tuple(exc.problems))]
    return _Reader(file, doc, positions, noted).entries()


def parse_yaml(file: str, data: bytes) -> tuple[Any, Any, list[Problem]]:
    """The document, its positions (``.of(path, key=...)``) and the problems the policy
    loader's YAML reader noted while converting it (duplicate keys, tags not allowed)."""
    doc, converted = loader.parse_yaml(file, data)
    return doc, converted.positions, list(converted.problems)


_CASE_PATH = re.compile(r"^\$\.cases\[(\d+)\]")


class _Reader:
    """Turns one parsed test file into cases, collecting problems case by case."""

    def __init__(self, file: str, doc: Any, positions: Any, noted: list[Problem]) -> None:
        self.file = file
        self.doc = doc
        self.positions = positions
        self.noted = noted
        self.base = os.path.dirname(file)

    def where(self, path: PathKey, *, key: bool = False) -> Where:
        line, column = self.positions.of(path, key=key)
        return Where(self.file, line, column)

    def problem(self, path: PathKey, message: str, *, key: bool = False) -> Problem:
        return self.where(path, key=key).problem(message, path)

    def relative(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.base, path))

    def entries(self) -> list[Entry]:
        doc = self.doc
        by_case: dict[int, list[Problem]] = {}
        general: list[Problem] = []
        for found, problem in schema_problems(self.file, doc, self.positions):
            if len(found) >= 2 and found[0] == "cases" and isinstance(found[1], int):
                by_case.setdefault(found[1], []).append(problem)
            else:
                general.append(problem)
        for problem in self.noted:
            in_case = _CASE_PATH.match(problem.json_path)
            if in_case:
                by_case.setdefault(int(in_case.group(1)), []).append(problem)
            else:
                general.append(problem)
        if isinstance(doc, dict) and "rules" in doc and "cases" not in doc:
            general.insert(
                0,
                Problem(
                    self.file,
                    1,
                    1,
                    "this is a policy, not a test file (test files have 'cases'); "
                    "keep test files in their own directory, e.g. policies/tests/",
                ),
            )
        default_now: dt.date | None = None
        if not general and "now" in doc:
            default_now = self.date(("now",), doc["now"], general)
        if general:
            where = Where(self.file, *general[0][1:3])
            return [InvalidCase(self.file, None, where, tuple(_sorted(general)))]
        entries: list[Entry] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(doc["cases"]):
            path: PathKey = ("cases", index)
            where = self.where(path)
            invalid = index in by_case  # the schema found problems: the case is not read on
            problems = list(by_case.get(index, ()))
            name = raw.get("name") if isinstance(raw, dict) else None
            name = name.strip() if isinstance(name, str) and name.strip() else None
            if name is not None and name in seen:
                problems.append(
                    self.problem(
                        (*path, "name"),
                        f"another case in this file (line {seen[name]}) is named {name!r}; "
                        "give each case its own name",
                    )
                )
            elif name is not None:
                seen[name] = where.line or 0
            if invalid or name is None:
                label = name or f"(case {index + 1}, unnamed)"
                entries.append(InvalidCase(self.file, label, where, tuple(_sorted(problems))))
                continue
            case = self.case(index, raw, name, where, doc.get("policies"), default_now, problems)
            if problems or case is None:
                entries.append(InvalidCase(self.file, name, where, tuple(_sorted(problems)), case))
            else:
                entries.append(case)
        return entries

    def date(self, path: PathKey, text: str, problems: list[Problem]) -> dt.date | None:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            problems.append(self.problem(path, f"'{text}' is not a real date (YYYY-MM-DD)"))
            return None

    def case(
        self,
        index: int,
        raw: dict[str, Any],
        name: str,
        where: Where,
        default_policies: list[str] | None,
        default_now: dt.date | None,
        problems: list[Problem],
    ) -> Case | None:
        path: PathKey = ("cases", index)
        policies = raw.get("policies", default_policies)
        if policies is None:
            problems.append(
                self.problem(
                    path,
                    "no policies under test: give 'policies' in the case or at the top of "
                    "the file (paths relative to this file)",
                )
            )
        if ("images" in raw) == ("snapshot" in raw):
            problems.append(
                self.problem(
                    path,
                    "give the input as either 'images' (inline) or 'snapshot' (a file), "
                    + ("not both" if "images" in raw else "one of them"),
                )
            )
        if raw.get("namespaces") and raw.get("all_namespaces"):
            problems.append(
                self.problem(
                    (*path, "all_namespaces"),
                    "use either namespaces or all_namespaces, not both",
                    key=True,
                )
            )
        now = default_now
        if "now" in raw:
            now = self.date((*path, "now"), raw["now"], problems)
        refs = tuple(raw.get("image_refs", ()))
        ref_names = self.image_refs(path, refs, problems)
        images = None
        if "images" in raw:
            images = self.images(path, raw["images"], problems)
        expect = raw["expect"]
        if expect.get("exit_code") == 3 and len(expect) > 1:
            problems.append(
                self.problem(
                    (*path, "expect", "exit_code"),
                    "exit code 3 means nothing was evaluated: expect it alone",
                )
            )
        known = None
        if images is not None:
            known = frozenset(image.name for image in images) | ref_names
        results = self.results(path, expect.get("results", {}), known, problems)
        waivers = tuple(
            ExpectedWaiver(key, status, self.where((*path, "expect", "waivers", key), key=True))
            for key, status in expect.get("waivers", {}).items()
        )
        if policies is None:
            return None
        return Case(
            file=self.file,
            index=index,
            name=name,
            where=where,
            policies=tuple(self.relative(p) for p in policies),
            images=images,
            snapshot=self.relative(raw["snapshot"]) if "snapshot" in raw else None,
            now=now,
            override=raw.get("override"),
            namespaces=tuple(raw.get("namespaces", ())),
            all_namespaces=bool(raw.get("all_namespaces", False)),
            image_refs=refs,
            unranked=raw.get("unranked", "warn"),
            require_images=bool(raw.get("require_images", False)),
            verdict=expect.get("verdict"),
            exit_code=expect.get("exit_code"),
            results=results,
            waivers=waivers,
            expect_where={
                key: self.where((*path, "expect", key), key=True)
                for key in ("verdict", "exit_code")
                if key in expect
            },
            policies_where=self.where(
                (*path, "policies") if "policies" in raw else ("policies",), key=True
            ),
            input_where=self.where(
                (*path, "snapshot" if "snapshot" in raw else "images"), key=True
            ),
            known_images=known,
        )

    def image_refs(
        self, path: PathKey, refs: Sequence[str], problems: list[Problem]
    ) -> frozenset[str]:
        from gate.imageref import parse_image_ref

        names = set()
        for number, text in enumerate(refs):
            try:
                names.add(parse_image_ref(text).placeholder().name)
            except GateError as exc:
                problems.append(self.problem((*path, "image_refs", number), exc.render()))
        return frozenset(names)

    def images(
        self, path: PathKey, raws: list[dict[str, Any]], problems: list[Problem]
    ) -> tuple[InlineImage, ...]:
        images: list[InlineImage] = []
        seen: set[str] = set()
        for number, raw in enumerate(raws):
            name = raw["image"].strip()
            namespace, _, rest = name.partition("/")
            repository, _, tag = rest.partition(":")
            if name in seen:
                problems.append(
                    self.problem(
                        (*path, "images", number, "image"),
                        f"image {name!r} is listed twice; expectations could not tell the two "
                        "apart, give them different tags",
                    )
                )
            seen.add(name)
            images.append(
                InlineImage(
                    name=name,
                    namespace=namespace,
                    repository=repository,
                    tag=tag,
                    counters=dict(raw.get("counters", {})),
                    ranked_in=tuple(raw.get("ranked_in", ("VulAsap",))),
                    digest=raw.get("digest", hashlib.sha256(name.encode()).hexdigest()),
                    uuid=raw.get("uuid", f"gate-test-{number + 1}"),
                    image_id=raw.get("image_id", ""),
                )
            )
        return tuple(images)

    def results(
        self,
        path: PathKey,
        raw: dict[str, dict[str, str]],
        known: frozenset[str] | None,
        problems: list[Problem],
    ) -> tuple[ExpectedResult, ...]:
        out = []
        for image, rules in raw.items():
            image_path = (*path, "expect", "results", image)
            if known is not None and image not in known:
                close = difflib.get_close_matches(image, sorted(known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                listed = ", ".join(sorted(known)) or "none"
                problems.append(
                    self.problem(
                        image_path,
                        f"no image {image!r} in this case's input{hint}; images: {listed}",
                        key=True,
                    )
                )
                continue
            for rule, outcome in rules.items():
                rule_path = (*image_path, rule)
                if rule.count("/") != 1 or rule.startswith("/") or rule.endswith("/"):
                    problems.append(
                        self.problem(
                            rule_path,
                            f"{rule!r}: name a rule as POLICY/RULE "
                            "(e.g. 'default/no-urgent-vulns')",
                            key=True,
                        )
                    )
                    continue
                out.append(ExpectedResult(image, rule, outcome, self.where(rule_path, key=True)))
        return tuple(out)


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def schema_problems(file: str, doc: Any, positions: Any) -> list[tuple[PathKey, Problem]]:
    """Every way ``doc`` breaks the test-file schema, located and explained."""
    out: list[tuple[PathKey, Problem]] = []
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        path: PathKey = tuple(error.absolute_path)
        validator = error.validator
        if validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for extra in (k for k in error.instance if k not in allowed):
                close = difflib.get_close_matches(extra, allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                if "counters" in allowed and extra in CATALOGUE:
                    hint = f" (a counter: write it under 'counters', e.g. counters: {{{extra}: 1}})"
                listed = ", ".join(allowed) if len(allowed) <= 20 else "see 'gate metrics'"
                line, column = positions.of((*path, extra), key=True)
                where = (*path, extra)
                message = f"unknown key '{extra}'{hint}; allowed here: {listed}"
                out.append((where, Problem(file, line, column, message, loader.json_path(where))))
            continue
        if "errorMessage" in error.schema and validator not in ("type", "required"):
            message = str(error.schema["errorMessage"])
        elif validator == "const" and path == ("version",):
            message = f"version must be the number 1, got {loader.describe(error.instance)}"
        elif (common := loader.schema_message(error)) is not None:
            message = common
        else:
            message = error.message
        line, column = positions.of(path)
        out.append((path, Problem(file, line, column, message, loader.json_path(path))))
    return out
