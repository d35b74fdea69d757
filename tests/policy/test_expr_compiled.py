"""Conditions compiled once: the fast paths say what the straightforward ones said.

``fail_if`` is compiled once per rule into closures: explanations too (they used to walk the
syntax tree and recompile it for every failure), and the common ``metric OP number`` shape
into a single call. These compare both with direct implementations on generated expressions
and on the extreme values a counter may take.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from gate.policy import expr
from gate.policy.expr import compile_condition
from gate.policy.metrics import MAX_MAGNITUDE
from tests.policy.test_expr import SAMPLE_METRICS, Tree, conditions, render


def explained_by_walking(node: expr._Node, values: dict[str, float]) -> str:
    """The explanation as the tree-walking version wrote it."""
    if node.kind == "cmp":
        lhs, rhs = node.children
        left = expr.format_number(expr._compile_num(lhs)(values))
        right = expr.format_number(expr._compile_num(rhs)(values))
        left_text = lhs.text if lhs.kind == "num" else f"{lhs.text} = {left}"
        right_text = rhs.text if rhs.kind == "num" else f"{rhs.text} (= {right})"
        return f"{left_text} {node.op} {right_text}"
    if node.kind == "not":
        return f"not ({explained_by_walking(node.children[0], values)})"
    if node.kind == "or":
        parts = [c for c in expr._flatten(node, "or") if expr._compile_bool(c)(values)]
        chosen = parts or expr._flatten(node, "or")
        return " or ".join(explained_by_walking(c, values) for c in chosen)
    return " and ".join(explained_by_walking(c, values) for c in expr._flatten(node, "and"))


EXTREMES = st.one_of(
    st.integers(-MAX_MAGNITUDE, MAX_MAGNITUDE),
    st.floats(-MAX_MAGNITUDE, MAX_MAGNITUDE, allow_nan=False),
    st.sampled_from([0, 0.0, -0.0, 5e-324, MAX_MAGNITUDE, -MAX_MAGNITUDE, float(MAX_MAGNITUDE)]),
)


@settings(max_examples=300, deadline=None)
@given(
    tree=conditions(),
    values=st.fixed_dictionaries({name: EXTREMES for name in SAMPLE_METRICS}),
    data=st.data(),
)
def test_compiled_explanations_match_the_tree_walk(
    tree: Tree, values: dict[str, float], data: st.DataObject
) -> None:
    source = render(tree, data.draw)
    condition = compile_condition(source)
    parsed = expr._Parser(source).parse()
    assert condition.explain(values) == explained_by_walking(parsed, values)
    assert condition.evaluate(values) == expr._compile_bool(parsed)(values)


@settings(max_examples=300, deadline=None)
@given(
    op=st.sampled_from(sorted(expr._COMPARE)),
    number=st.one_of(st.integers(0, 10**6), st.sampled_from(["0.5", "12.25", "1000000000"])),
    value=EXTREMES,
)
def test_metric_against_a_number_is_the_plain_comparison(
    op: str, number: object, value: float
) -> None:
    condition = compile_condition(f"imageVulAsap {op} {number}")
    constant = float(str(number)) if "." in str(number) else int(str(number))
    assert condition.evaluate({"imageVulAsap": value}) is expr._COMPARE[op](value, constant)
    text = condition.explain({"imageVulAsap": value})
    assert text.startswith(f"imageVulAsap = {expr.format_number(value)} {op} ")
    assert math.isfinite(value)
