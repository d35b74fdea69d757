"""The fail_if expression language: what it accepts, what it computes, how it explains errors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.errors import PolicyError
from gate.policy import metrics as catalogue
from gate.policy.expr import MAX_DEPTH, MAX_LENGTH, ExpressionError, compile_condition

# --- accepted expressions and their truth ----------------------------------------------------


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("imageVulAsap > 0", {"imageVulAsap": 3}, True),
        ("imageVulAsap > 0", {"imageVulAsap": 0}, False),
        ("imageVulAsap >= 3", {"imageVulAsap": 3}, True),
        ("imageVulAsap < 3", {"imageVulAsap": 3}, False),
        ("imageVulAsap <= 3", {"imageVulAsap": 3}, True),
        ("imageVulAsap == 3", {"imageVulAsap": 3}, True),
        ("imageVulAsap != 3", {"imageVulAsap": 3}, False),
        ("imageVulAsap>0", {"imageVulAsap": 1}, True),
        ("imageVulAsap > 2.5", {"imageVulAsap": 3}, True),
        ("imageVulAsap > 2.5", {"imageVulAsap": 2}, False),
        ("ImageSize > 1024", {"ImageSize": 1025}, True),
        (
            "imageMaliciousFileSerious + imageMaliciousFileSuspicious > 0",
            {"imageMaliciousFileSerious": 0, "imageMaliciousFileSuspicious": 1},
            True,
        ),
        ("imageVulLater - imageVulNntf > -1", {"imageVulLater": 1, "imageVulNntf": 2}, False),
        ("-imageVulAsap < 0", {"imageVulAsap": 1}, True),
        ("- -imageVulAsap > 0", {"imageVulAsap": 1}, True),
        ("10 - 2 - 3 == 5", {}, True),  # subtraction is left-associative
        (
            "imageVulLater > 50 or imageVulNntf >= 500",
            {"imageVulLater": 1, "imageVulNntf": 500},
            True,
        ),
        (
            "imageVulLater > 50 and imageVulNntf >= 500",
            {"imageVulLater": 51, "imageVulNntf": 1},
            False,
        ),
        ("not imageVulAsap > 0", {"imageVulAsap": 0}, True),
        ("not not imageVulAsap > 0", {"imageVulAsap": 1}, True),
        # "and" binds tighter than "or"
        ("vul > 0 or vul > 5 and vul < 0", {"vul": 1}, True),
        ("(vul > 0 or vul > 5) and vul < 0", {"vul": 1}, False),
        ("((((imageVulAsap > 0))))", {"imageVulAsap": 1}, True),
        ("  imageVulAsap > 0\n", {"imageVulAsap": 1}, True),
    ],
)
def test_expression_truth(source: str, values: dict[str, float], expected: bool) -> None:
    assert compile_condition(source).evaluate(values) is expected


def test_condition_lists_its_metrics_once_in_order() -> None:
    condition = compile_condition("VulCount > 1 or imageVulAsap > 0 and VulCount < 9")
    assert condition.metrics == ("VulCount", "imageVulAsap")
    assert condition.source == "VulCount > 1 or imageVulAsap > 0 and VulCount < 9"


@pytest.mark.parametrize(
    ("source", "values", "explained"),
    [
        ("imageVulAsap > 0", {"imageVulAsap": 3}, "imageVulAsap = 3 > 0"),
        (
            "imageVulLater > 50 or imageVulNntf >= 500",
            {"imageVulLater": 182, "imageVulNntf": 1},
            "imageVulLater = 182 > 50",
        ),
        (
            "imageMaliciousFileSerious + imageMaliciousFileSuspicious > 0",
            {"imageMaliciousFileSerious": 1, "imageMaliciousFileSuspicious": 2},
            "imageMaliciousFileSerious + imageMaliciousFileSuspicious = 3 > 0",
        ),
        ("VulCount > HcCount", {"VulCount": 2, "HcCount": 1}, "VulCount = 2 > HcCount (= 1)"),
        ("imageVulAsap > 0.5", {"imageVulAsap": 2.0}, "imageVulAsap = 2 > 0.5"),
    ],
)
def test_explanation_shows_actual_values(
    source: str, values: dict[str, float], explained: str
) -> None:
    assert compile_condition(source).explain(values) == explained


# --- errors: where and what ------------------------------------------------------------------


def error_of(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        compile_condition(source)
    return info.value


@pytest.mark.parametrize(
    ("source", "offset", "fragment"),
    [
        ("imageVulAsap", 0, "is a number, not a condition"),
        ("imageVulAsap + 1", 0, "is a number, not a condition"),
        ("imageVulAsap > 0 > 1", 17, "chained comparisons"),
        ("imageVulAsap > 0 == 1", 17, "chained comparisons"),
        ("imageVulAsp > 0", 0, "did you mean 'imageVulAsap'"),
        ("imagevulasap > 0", 0, "did you mean 'imageVulAsap'"),
        ("imageVulAsap > 0 and VulCont > 1", 21, "did you mean 'VulCount'"),
        ("imageVulAsap >", 14, "ends too early"),
        ("imageVulAsap > 0 and", 20, "ends too early"),
        ("", 0, "empty expression"),
        ("imageVulAsap > 0 && VulCount > 0", 17, "use 'and', 'or', 'not'"),
        ("imageVulAsap > 0 || VulCount > 0", 17, "use 'and', 'or', 'not'"),
        ("!imageVulAsap", 0, "use 'and', 'or', 'not'"),
        ("imageVulAsap = 0", 13, "'=='"),
        ("(imageVulAsap > 0", 17, "expected ')'"),
        ("imageVulAsap > 0)", 16, "unexpected ')'"),
        ("imageVulAsap > 0 imageVulLater > 0", 17, "after a complete condition"),
        ("(imageVulAsap > 0) + 1 > 0", 19, "cannot use '+' on a condition"),
        ("imageVulAsap > 0 and 5", 21, "'and' needs conditions on both sides"),
        ("5 or imageVulAsap > 0", 0, "'or' needs conditions on both sides"),
        ("not imageVulAsap", 4, "'not' needs a condition"),
        ("-(imageVulAsap > 0)", 0, "cannot negate a condition"),
        ("imageVulAsap > (VulCount > 1)", 13, "right side of a comparison"),
        ("imageVulAsap > 1.5.3", 15, "1.5.3"),
        ("imageVulAsap > 1e3", 15, "1e3"),
        ("imageVulAsap > 'x'", 15, "unexpected character"),
        ("imageVulAsap > \u0661", 15, "unexpected character"),  # only ASCII digits are numbers
    ],
)
def test_errors_point_at_the_problem(source: str, offset: int, fragment: str) -> None:
    error = error_of(source)
    assert isinstance(error, PolicyError)
    assert error.offset == offset
    assert fragment in error.reason
    # The rendered message shows the expression and a caret under the offending character.
    *_, source_line, caret_line = error.render().splitlines()
    assert source_line == " " * 6 + source
    assert caret_line == " " * (6 + offset) + "^"


def test_bare_metric_error_suggests_a_comparison() -> None:
    assert "'imageVulAsap > 0'" in error_of("imageVulAsap").reason


def test_unknown_metric_points_to_the_catalogue() -> None:
    assert "gate metrics" in error_of("nothingLikeAnyMetric > 0").reason


@pytest.mark.parametrize(
    "source",
    [
        "(" * (MAX_DEPTH + 1) + "imageVulAsap > 0" + ")" * (MAX_DEPTH + 1),
        "not " * (MAX_DEPTH + 1) + "imageVulAsap > 0",
        "-" * (MAX_DEPTH + 1) + "imageVulAsap > 0",
    ],
    ids=["parentheses", "not", "minus"],
)
def test_nesting_deeper_than_the_limit_is_an_error(source: str) -> None:
    assert "nests deeper" in error_of(source).reason


def test_nesting_within_the_limit_is_fine() -> None:
    depth = MAX_DEPTH // 2
    source = "(" * depth + "imageVulAsap > 0" + ")" * depth
    assert compile_condition(source).evaluate({"imageVulAsap": 1})


def test_thousands_of_parentheses_end_in_a_policy_error() -> None:
    with pytest.raises(PolicyError):
        compile_condition("(" * 5000 + "imageVulAsap > 0" + ")" * 5000)


@pytest.mark.parametrize(
    "source",
    [
        "imageVulAsap > " + "+".join(["1"] * 950),
        "imageVulAsap + " + " + ".join(["VulCount"] * 150) + " > 0",
        " or ".join(["vul>0"] * 200),
        " and ".join(["vul>0"] * 180),
    ],
    ids=["sum-of-literals", "sum-of-metrics", "or-chain", "and-chain"],
)
def test_long_flat_chains_compile_or_fail_cleanly(source: str) -> None:
    """A long chain within the length limit never crashes the gate (no RecursionError)."""
    assert len(source) <= MAX_LENGTH
    try:
        condition = compile_condition(source)
    except PolicyError:
        return
    values = dict.fromkeys(condition.metrics, 1)
    assert condition.evaluate(values) in (True, False)
    assert condition.explain(values)


def test_a_long_but_reasonable_chain_compiles() -> None:
    condition = compile_condition(" or ".join(f"VulCount > {n}" for n in range(60)))
    assert condition.evaluate({"VulCount": 30})
    assert not condition.evaluate({"VulCount": 0})


def test_an_overly_long_chain_says_to_split_the_rule() -> None:
    assert "split it into several rules" in error_of(" or ".join(["vul>0"] * 200)).reason


def test_too_long_expression_is_an_error() -> None:
    assert "longer than" in error_of("imageVulAsap > " + "0" * MAX_LENGTH).reason


@pytest.mark.parametrize(
    "source",
    [
        "imageVulAsap + 0.5 > " + "9" * 400,
        "1.5 + " + "9" * 400 + " > 0",
        "imageVulAsap > " + "9" * 400 + ".5",
    ],
)
def test_huge_literals_never_crash(source: str) -> None:
    try:
        condition = compile_condition(source)
    except PolicyError as error:
        assert "too large" in str(error)
        return
    assert condition.evaluate({"imageVulAsap": 1}) in (True, False)


def test_non_string_is_an_error() -> None:
    with pytest.raises(PolicyError):
        compile_condition(5)  # type: ignore[arg-type]


# --- property-based: junk never escapes as anything but a PolicyError -----------------------

METRIC_NAMES = sorted(catalogue.CATALOGUE)
TOKENS = st.one_of(
    st.sampled_from(METRIC_NAMES),
    st.sampled_from(["and", "or", "not", "(", ")", "+", "-", ">", ">=", "<", "<=", "==", "!="]),
    st.integers(min_value=0, max_value=10**6).map(str),
    st.sampled_from(["0.5", "12.25", "1.", ".5", "1.2.3", "1e3", "0x1f", "9" * 40]),
    st.sampled_from(["imageVulAsp", "foo", "_", "AND", "True", "None", "__import__"]),
    st.sampled_from(["=", "&&", "||", "!", "&", "|", "*", "/", ",", "'", '"', "[", "]", "{"]),
    st.sampled_from(["\x00", "\u0661", "\u00a0", "\ud800", "\x1b[31m", "é", "\n", "\t"]),
)
SEPARATORS = st.sampled_from(["", " ", "  ", "\n"])


@st.composite
def token_streams(draw: st.DrawFn) -> str:
    tokens = draw(st.lists(TOKENS, max_size=25))
    out = ""
    for token in tokens:
        out += draw(SEPARATORS) + token
    return out


def _check_never_crashes(source: str) -> None:
    try:
        condition = compile_condition(source)
    except PolicyError as error:
        if isinstance(error, ExpressionError):
            assert 0 <= error.offset <= len(source)
        assert error.render()
        return
    # What compiles also evaluates and explains on any data.
    for value in (0, 1, 7.5, -3):
        values = dict.fromkeys(condition.metrics, value)
        assert condition.evaluate(values) in (True, False)
        assert isinstance(condition.explain(values), str)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token_streams())
def test_random_token_streams_only_raise_policy_errors(source: str) -> None:
    _check_never_crashes(source)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_only_raises_policy_errors(source: str) -> None:
    _check_never_crashes(source)


# --- property-based: generated valid expressions agree with a reference evaluation ----------

# Precedence of each node kind (higher binds tighter), matching the documented grammar.
_LEVEL = {"or": 1, "and": 2, "not": 3, "cmp": 4, "add": 5, "sub": 5, "neg": 6, "leaf": 7}
_COMPARISONS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
SAMPLE_METRICS = ["imageVulAsap", "imageVulLater", "VulCount", "ImageSize"]


@dataclass(frozen=True)
class Tree:
    kind: str
    text: str = ""  # leaves: the literal or metric as written
    op: str = ""
    children: tuple[Tree, ...] = ()


def reference_value(tree: Tree, values: dict[str, float]) -> float | bool:
    """Evaluate the generated tree directly, without the gate's parser."""
    kind = tree.kind
    if kind == "leaf":
        if tree.text in values:
            return values[tree.text]
        return float(tree.text) if "." in tree.text else int(tree.text)
    if kind == "neg":
        return -reference_value(tree.children[0], values)
    if kind == "not":
        return not reference_value(tree.children[0], values)
    left, right = (reference_value(child, values) for child in tree.children)
    if kind == "add":
        return left + right
    if kind == "sub":
        return left - right
    if kind == "cmp":
        return _COMPARISONS[tree.op](left, right)
    if kind == "and":
        return bool(left) and bool(right)
    return bool(left) or bool(right)


def render(tree: Tree, parens: st.DrawFn) -> str:
    """Write the tree with the fewest parentheses the precedence needs, plus random extras."""

    def wrap(child: Tree, need: bool) -> str:
        text = render(child, parens)
        if need or parens(st.integers(0, 9)) == 0:
            return f"({text})"
        return text

    level = _LEVEL[tree.kind]
    if tree.kind == "leaf":
        return tree.text
    if tree.kind == "neg":
        child = tree.children[0]
        return "-" + wrap(child, _LEVEL[child.kind] < _LEVEL["neg"])
    if tree.kind == "not":
        child = tree.children[0]
        return "not " + wrap(child, _LEVEL[child.kind] < _LEVEL["not"])
    left, right = tree.children
    op = {"add": "+", "sub": "-", "and": "and", "or": "or"}.get(tree.kind, tree.op)
    if tree.kind == "cmp":
        # Comparisons do not chain: both sides must be sums or tighter.
        left_text = wrap(left, _LEVEL[left.kind] <= level)
        right_text = wrap(right, _LEVEL[right.kind] <= level)
    else:
        # Left-associative: the left side may share the level, the right side may not.
        left_text = wrap(left, _LEVEL[left.kind] < level)
        right_text = wrap(right, _LEVEL[right.kind] <= level)
    space = parens(st.sampled_from([" ", "  "]))
    return f"{left_text}{space}{op}{space}{right_text}"


LITERALS = st.one_of(
    st.integers(min_value=0, max_value=1000).map(str),
    st.tuples(st.integers(0, 99), st.integers(0, 99)).map(lambda p: f"{p[0]}.{p[1]:02d}"),
)


def numbers() -> st.SearchStrategy[Tree]:
    leaves = st.one_of(
        st.sampled_from(SAMPLE_METRICS).map(lambda name: Tree("leaf", name)),
        LITERALS.map(lambda text: Tree("leaf", text)),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            inner.map(lambda child: Tree("neg", children=(child,))),
            st.tuples(st.sampled_from(["add", "sub"]), inner, inner).map(
                lambda t: Tree(t[0], children=(t[1], t[2]))
            ),
        ),
        max_leaves=4,
    )


def conditions() -> st.SearchStrategy[Tree]:
    comparisons = st.tuples(st.sampled_from(sorted(_COMPARISONS)), numbers(), numbers()).map(
        lambda t: Tree("cmp", op=t[0], children=(t[1], t[2]))
    )
    return st.recursive(
        comparisons,
        lambda inner: st.one_of(
            inner.map(lambda child: Tree("not", children=(child,))),
            st.tuples(st.sampled_from(["and", "or"]), inner, inner).map(
                lambda t: Tree(t[0], children=(t[1], t[2]))
            ),
        ),
        max_leaves=5,
    )


METRIC_VALUES = st.one_of(
    st.integers(min_value=-5, max_value=1500),
    st.floats(min_value=-100, max_value=100, allow_nan=False).map(lambda x: round(x, 2)),
)


@settings(max_examples=400, deadline=None)
@given(
    tree=conditions(),
    values=st.fixed_dictionaries({name: METRIC_VALUES for name in SAMPLE_METRICS}),
    data=st.data(),
)
def test_generated_expressions_match_the_reference(
    tree: Tree, values: dict[str, float], data: st.DataObject
) -> None:
    source = render(tree, data.draw)
    expected = reference_value(tree, values)
    condition = compile_condition(source)
    assert condition.evaluate(values) is bool(expected), source
    assert set(condition.metrics) <= set(SAMPLE_METRICS)
    assert condition.explain(values)
