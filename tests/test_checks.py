"""Check kinds register themselves: the registry, discovery of the package's modules, and the
pydantic union built from it. Each kind's behaviour is tested from its YAML case file
(tests/check_cases/<kind>.yaml, run by tests/test_check_cases.py)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from pydantic import Field, TypeAdapter, ValidationError

import scoring.checks
from scoring.checks import BaseCheck, Check, check_kind, check_kinds

REPO = Path(__file__).resolve().parent.parent
KINDS = ["phrases", "meaning", "absent", "event", "sequence", "metric", "all", "any", "not"]


def test_check_kinds_register_themselves_in_list_order():
    kinds = check_kinds()
    assert list(kinds) == KINDS
    assert all(issubclass(cls, BaseCheck) and cls.kind == key for key, cls in kinds.items())


def test_every_kind_declared_in_the_package_is_discovered():
    """Every `@check_kind("...")` in scoring/checks/*.py is registered without a central list."""
    declared = set()
    for path in Path(scoring.checks.__file__).parent.glob("*.py"):
        declared |= set(re.findall(r'^@check_kind\("([^"]+)"', path.read_text(encoding="utf-8"), re.M))
    assert declared == set(check_kinds())


def test_the_check_union_is_built_from_the_registry():
    union, *_ = get_args(Check)  # Annotated[Union[Annotated[cls, Tag("check[key]")], ...], Discriminator]
    members = [get_args(member) for member in get_args(union)]
    assert [(cls, tag.tag) for cls, tag in members] == [(cls, f"check[{key}]") for key, cls in check_kinds().items()]
    adapter = TypeAdapter(Check)
    assert type(adapter.validate_python({"metric": "dead_air_s", "max": 5})).kind == "metric"
    assert type(adapter.validate_python({"not": {"event": "hold"}}).negated).kind == "event"
    with pytest.raises(ValidationError, match="a check needs exactly one of: " + ", ".join(KINDS)):
        adapter.validate_python({"colour": "red"})


def test_check_kind_refuses_a_key_twice_and_a_key_that_is_no_field():
    with pytest.raises(ValueError, match="check kind 'phrases' is registered twice"):
        @check_kind("phrases")
        class Again(BaseCheck):
            phrases: str

    with pytest.raises(ValueError, match="has no field 'silence'"):
        @check_kind("silence")
        class NoField(BaseCheck):
            seconds: float = Field(1)

    assert "silence" not in check_kinds()


NEW_KIND = '''"""A kind added as one file: passes when the call is at most `seconds` long."""
from qa_types import Outcome
from scoring.checks.base import BaseCheck, CheckContext, CheckResult, check_kind


@check_kind("short_call", order=60)
class ShortCallCheck(BaseCheck):
    short_call: float

    def evaluate(self, ctx: CheckContext) -> CheckResult:
        return CheckResult(Outcome.PASS if ctx.duration <= self.short_call else Outcome.FAIL)

    def describe(self) -> str:
        return f"the call lasts at most {self.short_call:g} s"
'''

PROBE = '''
from scoring import RubricError, RubricScorer, parse_rubric
from tests.builders import transcript
rubric = parse_rubric("""
id: r
name: r
sections: [{id: s, criteria: [{id: c, check: {any: [{short_call: 60}]}}]}]
""")
print(RubricScorer(rubric).score(transcript([("agent", 0, 5, "hello")])).results[0].outcome.value)
try:
    parse_rubric("id: r\\nname: r\\nsections: [{id: s, criteria: [{id: c, check: {colour: red}}]}]\\n")
except RubricError as exc:
    print(exc)
'''


def test_a_new_kind_is_one_new_file(tmp_path):
    """A copy of the package with one more file in scoring/checks/: rubrics can use the kind
    (inside a combination too) and the error for an unknown key lists it."""
    shutil.copytree(REPO / "scoring", tmp_path / "scoring", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "scoring" / "checks" / "short_call.py").write_text(NEW_KIND, encoding="utf-8")
    env_path = f"{tmp_path}:{REPO}"
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert run.returncode == 0, run.stderr
    outcome, error = run.stdout.splitlines()
    assert outcome == "pass"
    assert error.endswith("a check needs exactly one of: phrases, meaning, absent, event, sequence, metric, short_call, "
                          "all, any, not")
