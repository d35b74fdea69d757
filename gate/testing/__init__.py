"""``gate test``: unit tests for policies.

A test file (YAML, see :data:`SCHEMA_PATH` and the README's "Testing your policies") holds
``cases``; each names the policies under test, gives an input ranking (inline images or a
snapshot file) and the expected verdict, exit code, outcomes per image and rule, and waiver
statuses. Every case runs through :func:`gate.run.run_check`, the same path as
``gate check``; nothing here evaluates a rule itself.

    from gate.testing import run_tests

    run = run_tests(["policies/tests"])
    print(run.render(require_coverage=True), end="")
    raise SystemExit(run.exit_code(require_coverage=True))

Nothing of this package is imported by ``gate check``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from gate.testing.runner import TestRun, run_tests

SCHEMA_PATH = Path(__file__).with_name("schema.json")
DEFAULT_PATH = "policies/tests"

__all__ = ["DEFAULT_PATH", "SCHEMA_PATH", "TestRun", "run_tests", "schema"]


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of test files."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_bytes())
    return loaded
