"""Habits of the suite, checked by the suite: every test states a check that can fail.

The rule, for every test pytest collects from ``tests/**/test_*.py`` (module-level functions
named ``test*`` and ``test*`` methods of ``Test*`` classes): its own body must contain at least
one of

- an ``assert`` statement;
- a call to ``pytest.raises``, ``pytest.warns`` or ``pytest.fail``;
- a call to a function or method whose name starts with ``assert_`` or ``expect_``
  (``assert_df_equality``, ``driver.assert_emitted(...)``, ``assert_windows_equal``): name a
  helper that checks so, and a reader sees the check where it is made.

Only the test's own body counts, not functions defined inside it (they may never run) nor
helpers it calls under other names (``rides(..., check=True)`` checks, but the test reads as if
it did not). A test that truly checks by other means says how, in a marker the rule accepts::

    @pytest.mark.no_assert(reason="the fixture's own asserts are the check: ...")
    def test_something(...): ...

The reason must be a non-empty string, and a marked test that does contain a check is reported
too (the marker would only hide a future loss of that check).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ridestream.paths import PROJECT_ROOT

TESTS = PROJECT_ROOT / "tests"
CHECK_CALLS = {"raises", "warns", "fail"}  # as pytest.<name>(...)
CHECK_PREFIXES = ("assert_", "expect_")
MARKER = "no_assert"
NESTED = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef


def own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """Yield the nodes of ``function``'s body, without those of functions or classes in it."""
    pending: list[ast.AST] = [function]
    while pending:
        for child in ast.iter_child_nodes(pending.pop()):
            if not isinstance(child, NESTED):
                pending.append(child)
                yield child


def is_check(node: ast.AST) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    if isinstance(function, ast.Attribute):
        if isinstance(function.value, ast.Name) and function.value.id == "pytest":
            return function.attr in CHECK_CALLS
        return function.attr.startswith(CHECK_PREFIXES)
    return isinstance(function, ast.Name) and function.id.startswith(CHECK_PREFIXES)


def marker_reason(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """Return the reason of ``@pytest.mark.no_assert(reason=...)``: None if unmarked, "" if bare."""
    for decorator in function.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else ast.Call(decorator, [], [])
        if isinstance(call.func, ast.Attribute) and call.func.attr == MARKER:
            given = [*call.args, *(keyword.value for keyword in call.keywords)]
            texts = [node.value for node in given if isinstance(node, ast.Constant)]
            return next((text.strip() for text in texts if isinstance(text, str)), "")
    return None


def collected_tests(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            yield node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef) and (
                    member.name.startswith("test")
                ):
                    yield member


def habit_problems(source: str, filename: str) -> list[str]:
    """Return one line per test in ``source`` that breaks the rule of the module docstring."""
    problems = []
    for function in collected_tests(ast.parse(source, filename)):
        where = f"{filename}:{function.lineno} {function.name}"
        checks = any(is_check(node) for node in own_nodes(function))
        reason = marker_reason(function)
        if reason is None and not checks:
            problems.append(
                f"{where}: no assert, pytest.raises/warns/fail or assert_*/expect_* call "
                f"(or mark it @pytest.mark.{MARKER}(reason=...))"
            )
        elif reason == "":
            problems.append(f"{where}: @pytest.mark.{MARKER} needs a reason")
        elif reason is not None and checks:
            problems.append(f"{where}: marked {MARKER} but it checks: drop the marker")
    return problems


def test_every_test_in_the_suite_states_a_check():
    files = sorted(TESTS.rglob("test_*.py"))
    assert len(files) >= 30, files  # the glob found the suite
    problems = [
        problem
        for path in files
        for problem in habit_problems(path.read_text(), str(path.relative_to(PROJECT_ROOT)))
    ]
    assert problems == [], "\n".join(problems)


def test_the_rule_finds_a_test_without_a_check_and_accepts_each_kind_of_check():
    source = """
import pytest

def test_asserts(): assert 1 + 1 == 2
def test_raises():
    with pytest.raises(ValueError):
        int("x")
def test_fails_itself(): pytest.fail("never")
def test_a_named_check(driver): driver.assert_emitted([])
def test_a_named_helper(): expect_windows({})
@pytest.mark.no_assert(reason="the fixture checks")
def test_marked(fixture): fixture.run()

def test_runs_only(job): job.run()
def test_a_check_in_a_function_it_never_calls():
    def helper():
        assert False
@pytest.mark.no_assert
def test_marked_without_a_reason(job): job.run()
@pytest.mark.no_assert(reason="stale")
def test_marked_but_asserting(): assert True
class TestGroup:
    def test_method_runs_only(self, job): job.run()
def helper_not_a_test(): pass
"""
    assert habit_problems(source, "t.py") == [
        "t.py:14 test_runs_only: no assert, pytest.raises/warns/fail or assert_*/expect_* call "
        "(or mark it @pytest.mark.no_assert(reason=...))",
        "t.py:15 test_a_check_in_a_function_it_never_calls: no assert, pytest.raises/warns/fail "
        "or assert_*/expect_* call (or mark it @pytest.mark.no_assert(reason=...))",
        "t.py:19 test_marked_without_a_reason: @pytest.mark.no_assert needs a reason",
        "t.py:21 test_marked_but_asserting: marked no_assert but it checks: drop the marker",
        "t.py:23 test_method_runs_only: no assert, pytest.raises/warns/fail or assert_*/expect_* "
        "call (or mark it @pytest.mark.no_assert(reason=...))",
    ]
