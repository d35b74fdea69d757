"""JUnit XML: parsed strictly with lxml and checked against the rules CI consumers impose."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gate.model import Report
from gate.report.junit import JunitFormat, error_report
from gate.source.normalize import normalize
from tests.conftest import image_entry, load_policy, make_image, ranking_body, run_engine

POLICY = """
version: 1
name: prod
rules:
  - {id: urgent, fail_if: imageVulAsap > 0}
  - {id: baseline, fail_if: imageBaselineHigh > 0, enforcement: soft-mandatory}
  - {id: budget, fail_if: imageVulLater > 50, enforcement: advisory}
  - {id: malware, fail_if: imageMaliciousFileSerious > 0}
  - {id: size, fail_if: ImageSize > 10}
waivers:
  - rule: malware
    images: ["ns/*"]
    reason: false positive, SEC-7
    expires: 2099-01-01
    owner: sec-team
"""

METRICS = {
    "imageVulAsap": 3,
    "imageBaselineHigh": 1,
    "imageVulLater": 60,
    "imageMaliciousFileSerious": 1,
}  # ImageSize missing: the mandatory "size" rule cannot be evaluated


def mixed_report(**kwargs: Any) -> Report:
    policy = load_policy(POLICY, file="policies/prod.yaml")
    images = [
        make_image(
            "ns",
            "repo",
            "app:v1",
            metrics=METRICS,
            uuid="u-1",
            digest="d97c1348e56eb529",
            ranked_in=("VulAsap", "Baseline"),
        ),
        make_image(
            "ns",
            "clean",
            "v2",
            metrics={**dict.fromkeys(METRICS, 0), "ImageSize": 1},
            uuid="u-2",
        ),
    ]
    return run_engine(policy, images, **kwargs)


def parse(text: str) -> Any:
    """A strict parse: no recovery, so one bad character fails the test like it fails GitLab."""
    parser = etree.XMLParser(recover=False, resolve_entities=False)
    return etree.fromstring(text.encode("utf-8"), parser)


def render(report: Report) -> Any:
    return parse(JunitFormat().render(report))


def case(root: Any, name: str) -> Any:
    (found,) = root.xpath("//testcase[@name=$name]", name=name)
    return found


def test_one_suite_per_image_named_by_identity() -> None:
    root = render(mixed_report())
    assert root.tag == "testsuites"
    assert [s.get("name") for s in root.iter("testsuite")] == ["ns/repo:app:v1", "ns/clean:v2"]


def test_one_case_per_policy_rule_with_identity_classname_and_file() -> None:
    root = render(mixed_report())
    suite = root.find("testsuite")
    names = [c.get("name") for c in suite.iter("testcase")]
    assert names == [
        f"prod/{rule} [ns/repo:app:v1]"
        for rule in ("urgent", "baseline", "budget", "malware", "size")
    ]
    for element in suite.iter("testcase"):
        assert element.get("classname") == "ns/repo:app:v1"
        assert element.get("file") == "policies/prod.yaml"
        assert "d97c1348" not in element.get("name")  # no digest in names


def test_failure_message_is_the_first_line_of_a_non_empty_body() -> None:
    root = render(mixed_report())
    failure = case(root, "prod/urgent [ns/repo:app:v1]").find("failure")
    message = failure.get("message")
    assert "imageVulAsap = 3 > 0" in message
    assert "\n" not in message
    body = failure.text
    assert body and body.splitlines()[0] == message
    assert "condition: imageVulAsap > 0" in body
    assert failure.get("type") == "policy.hard-mandatory"
    soft = case(root, "prod/baseline [ns/repo:app:v1]").find("failure")
    assert soft.get("type") == "policy.soft-mandatory"


def test_cannot_evaluate_under_a_mandatory_rule_is_an_error() -> None:
    root = render(mixed_report())
    error = case(root, "prod/size [ns/repo:app:v1]").find("error")
    assert error is not None
    assert "could not be evaluated" in error.get("message")
    assert "ImageSize" in error.get("message")
    assert error.text.splitlines()[0] == error.get("message")


@pytest.mark.parametrize(
    ("rule", "kwargs", "label", "why"),
    [
        ("budget", {}, "warning", "imageVulLater = 60 > 50"),
        ("malware", {}, "waived", "false positive, SEC-7"),
        ("baseline", {"override": "CAB-99 emergency fix"}, "overridden", "CAB-99 emergency fix"),
    ],
)
def test_warn_waived_overridden_are_skipped_with_a_reason_and_a_body(
    rule: str, kwargs: dict[str, str], label: str, why: str
) -> None:
    root = render(mixed_report(**kwargs))
    skipped = case(root, f"prod/{rule} [ns/repo:app:v1]").find("skipped")
    assert skipped is not None
    message = skipped.get("message")
    assert message.startswith(f"{label}: prod/{rule}")
    assert why in message
    assert skipped.text and skipped.text.strip()
    assert skipped.text.splitlines()[0] == message
    assert skipped.get("type") == f"policy.{label}"


def test_passing_cases_have_no_child_elements() -> None:
    root = render(mixed_report())
    for element in root.xpath("//testsuite[@name='ns/clean:v2']/testcase"):
        assert len(element) == 0


def test_no_type_attribute_that_consumers_treat_specially() -> None:
    root = render(mixed_report(override="x"))
    types = [e.get("type") for e in root.iter() if e.get("type") is not None]
    assert types
    assert not {"date", "yaml", "symbol"} & set(types)
    assert all("." in t for t in types)


def test_suite_properties_carry_digest_uuid_and_ranking_lists() -> None:
    root = render(mixed_report())
    suite = root.find("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["digest"] == "d97c1348e56eb529"
    assert properties["uuid"] == "u-1"
    assert properties["ranked_in"] == "VulAsap,Baseline"


def test_counts_add_up() -> None:
    root = render(mixed_report())
    suites = root.findall("testsuite")
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites) == 10
    assert int(root.get("failures")) == 2
    assert int(root.get("errors")) == 1
    first = suites[0]
    assert (first.get("tests"), first.get("failures"), first.get("errors")) == ("5", "2", "1")
    assert first.get("skipped") == "2"


def triples(root: Any) -> list[tuple[str, str, str]]:
    return [
        (suite.get("name"), element.get("classname"), element.get("name"))
        for suite in root.iter("testsuite")
        for element in suite.iter("testcase")
    ]


def test_no_duplicate_suite_classname_name_triples() -> None:
    root = render(mixed_report())
    assert len(triples(root)) == len(set(triples(root))) == 10


def test_images_sharing_a_name_stay_distinct() -> None:
    """The same namespace/repository:tag ranked twice (e.g. a re-pushed tag) must not collapse."""
    policy = load_policy(POLICY)
    images = normalize(
        ranking_body(
            vul_asap=[
                image_entry("ns", "repo", "v1", uuid="u-1", digest="aa" * 32, detail=METRICS),
                image_entry("ns", "repo", "v1", uuid="u-2", digest="bb" * 32, detail=METRICS),
                image_entry("ns", "repo", "v1", uuid="u-3", digest="bb" * 32, detail=METRICS),
            ]
        )
    ).images
    assert len(images) == 3
    root = render(run_engine(policy, images))
    found = triples(root)
    assert len(found) == 15
    assert len(set(found)) == len(found), Counter(found).most_common(1)
    suite_names = [s.get("name") for s in root.iter("testsuite")]
    assert len(set(suite_names)) == 3
    assert all(name.startswith("ns/repo:v1") for name in suite_names)


HOSTILE = "ev\x1b[31mil\x00\x07\x0b\x1f\ud800\udfff\ufffe\x7f-\u200b✓"


def test_hostile_characters_in_the_data_are_stripped_and_the_file_parses() -> None:
    body = ranking_body(
        vul_asap=[
            image_entry(
                f"ns{HOSTILE}",
                f"repo{HOSTILE}",
                f"v1{HOSTILE}",
                uuid=f"u{HOSTILE}",
                digest=f"d{HOSTILE}",
                detail={"imageVulAsap": 1, "imageVulLater": f"x{HOSTILE}"},
            )
        ]
    )
    policy = load_policy(
        """
        version: 1
        name: p
        rules:
          - {id: urgent, fail_if: imageVulAsap > 0}
          - {id: budget, fail_if: imageVulLater > 1}
        """
    )
    text = JunitFormat().render(run_engine(policy, normalize(body).images, override="o\x1b[0mk"))
    root = parse(text)  # raises on any character XML cannot carry
    for bad in ("\x1b", "\x00", "\x07", "\x0b", "\x1f", "\ufffe"):
        assert bad not in text
    suite = root.find("testsuite")
    assert suite.get("name").startswith("nsevil-")
    assert "\u200b✓" in suite.get("name")  # printable Unicode survives
    for element in root.iter():
        for value in [*element.attrib.values(), element.text or ""]:
            assert "\ud800" not in value and "\udfff" not in value
    assert text.encode("utf-8")  # no lone surrogate can reach the file


def test_empty_selection_is_visible_as_a_skipped_case() -> None:
    policy = load_policy(POLICY)
    root = render(run_engine(policy, [], selection=("prod-*",)))
    (element,) = root.iter("testcase")
    skipped = element.find("skipped")
    assert skipped is not None and "prod-*" in skipped.get("message")
    assert skipped.text.strip()


def test_empty_selection_with_require_images_is_a_failure() -> None:
    policy = load_policy(POLICY)
    root = render(run_engine(policy, [], selection=("prod-*",), require_images=True))
    (element,) = root.iter("testcase")
    failure = element.find("failure")
    assert failure is not None
    assert failure.text.splitlines()[0] == failure.get("message")
    assert root.get("failures") == "1"


def test_error_report_has_one_error_case() -> None:
    root = parse(error_report("snapshot x.json is not valid JSON\n  hint: re-fetch \x1b[1mit"))
    (element,) = root.iter("testcase")
    (error,) = element
    assert error.tag == "error"
    assert "not valid JSON" in error.get("message")
    assert error.text.strip()
    assert root.get("errors") == "1"
    assert error.get("type") not in ("date", "yaml", "symbol")


# --- the common schema -----------------------------------------------------------------------


def strip_extensions(root: Any) -> Any:
    """Drop the two attributes junit-xml and GitLab add beyond the schema."""
    tree = copy.deepcopy(root)
    for element in tree.iter("testsuite", "testsuites"):
        element.attrib.pop("disabled", None)
    for element in tree.iter("testcase"):
        element.attrib.pop("file", None)
    return tree


@pytest.mark.parametrize(
    "make",
    [
        lambda: JunitFormat().render(mixed_report()),
        lambda: JunitFormat().render(mixed_report(override="release")),
        lambda: JunitFormat().render(run_engine(load_policy(POLICY), [], require_images=True)),
        lambda: JunitFormat().render(run_engine(load_policy(POLICY), [])),
        lambda: error_report("the ranking could not be read"),
    ],
    ids=["mixed", "override", "require-images", "empty", "error-report"],
)
def test_valid_against_the_junit_schema(junit_xsd: Path, make: Any) -> None:
    schema = etree.XMLSchema(etree.parse(str(junit_xsd)))
    tree = strip_extensions(parse(make()))
    assert schema.validate(tree), schema.error_log


# --- property-based: whatever the API sends, the file parses ---------------------------------

ANY_TEXT = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=30
)  # surrogates, controls and all


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(st.tuples(ANY_TEXT, ANY_TEXT, ANY_TEXT, ANY_TEXT), min_size=1, max_size=4),
    counter=st.one_of(st.integers(-5, 5), ANY_TEXT),
    override=ANY_TEXT,
)
def test_any_api_strings_give_a_strict_parse_with_unique_cases(
    names: list[tuple[str, str, str, str]], counter: Any, override: str
) -> None:
    body = ranking_body(
        vul_asap=[
            image_entry(ns, repo, tag, uuid=uuid, digest=uuid, detail={"imageVulAsap": counter})
            for ns, repo, tag, uuid in names
        ]
    )
    policy = load_policy("version: 1\nname: p\nrules: [{id: r, fail_if: imageVulAsap > 0}]\n")
    images = normalize(body).images
    root = parse(JunitFormat().render(run_engine(policy, images, override=override)))
    found = triples(root)
    assert len(found) == len(images)
    assert len(set(found)) == len(found)


def test_selected_images_outside_every_scope_with_require_images_is_a_failure() -> None:
    policy = load_policy(
        "version: 1\nname: p\nscope: {namespaces: [prod-*]}\n"
        "rules: [{id: r, fail_if: imageVulAsap > 0}]\n"
    )
    report = run_engine(policy, [make_image("prod")], selection=("prod",), require_images=True)
    root = render(report)
    (element,) = root.iter("testcase")
    failure = element.find("failure")
    assert failure is not None
    assert "outside the scope of every policy" in failure.get("message")
    assert failure.text.splitlines()[0] == failure.get("message")
