"""Rubric YAML validation: faults name the file, the YAML path and the line."""
from __future__ import annotations

import pytest

from rubrics import rubric_path, shipped
from scoring import RubricError, load_rubric, parse_rubric

VALID = """\
id: mini
name: Mini rubric
pass_mark: 80
phrase_sets:
  hello: {en: ["thank you for calling"]}
sections:
  - id: opening
    weight: 20
    criteria:
      - id: greeting
        points: 10
        check: {phrases: $hello, speaker: agent, within: {first_seconds: 20}}
"""


def test_every_shipped_rubric_loads():
    assert "inbound_support" in shipped()
    for path in shipped().values():
        rubric, text = load_rubric(path)
        assert rubric.content_hash and len(rubric.content_hash) == 64
        assert list(rubric.criteria())


def test_shipped_rubric_has_phrases_in_six_languages():
    rubric, _ = load_rubric(rubric_path("inbound_support"))
    for name, table in rubric.phrase_sets.items():
        assert {"en", "ru", "tr", "el", "lt", "et"} <= set(table), name


def test_valid_rubric_parses():
    rubric = parse_rubric(VALID, "mini.yaml")
    assert rubric.sections[0].criteria[0].check.within.first_seconds == 20
    assert rubric.phrases("$hello", "en") == ["thank you for calling"]


def test_bad_yaml_names_file_and_line():
    text = VALID.replace("  - id: opening", "  - id: opening: [")
    with pytest.raises(RubricError) as err:
        parse_rubric(text, "bad.yaml")
    message = str(err.value)
    assert message.startswith("bad.yaml:7:") and "invalid YAML" in message
    assert "\n" not in message


def test_unknown_field_names_path_and_line():
    text = VALID.replace("        points: 10", "        points: 10\n        colour: red")
    with pytest.raises(RubricError) as err:
        parse_rubric(text, "r.yaml")
    assert str(err.value).startswith("r.yaml:12: sections[0].criteria[0].colour:")
    assert "Extra inputs" in str(err.value)


def test_weight_not_a_number_names_path_and_line():
    text = VALID.replace("weight: 20", "weight: heavy")
    with pytest.raises(RubricError) as err:
        parse_rubric(text, "r.yaml")
    assert str(err.value).startswith("r.yaml:8: sections[0].weight:")
    assert "number" in str(err.value)


def test_unknown_phrase_set_is_reported():
    text = VALID.replace("phrases: $hello", "phrases: $helo")
    with pytest.raises(RubricError, match=r"r.yaml:12: sections\[0\].criteria\[0\].check.phrases: unknown phrase set '\$helo'"):
        parse_rubric(text, "r.yaml")


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(RubricError, match="rubric file not found"):
        load_rubric(tmp_path / "nope.yaml")


def test_content_hash_changes_with_text():
    assert parse_rubric(VALID).content_hash != parse_rubric(VALID.replace("80", "85")).content_hash


# --- hostile YAML: alias bombs, recursion, nesting, size ---------------------------------------

BOMB = """\
id: bomb
name: Billion laughs
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
phrase_sets: {lol: {en: *i}}
sections: [{id: s, criteria: [{id: c, check: {phrases: $lol}}]}]
"""

# Runs `qa ARGS...` with the address space capped 1.5 GB above what the imports take and
# a timeout, so a regression fails the test instead of exhausting the machine's memory.
GUARDED_QA = r"""
import resource, sys
import qa.cli, qa.rubric_cli, scoring, scoring.rubric_tests  # heavy imports before the cap
with open("/proc/self/status") as status:
    size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + 1_500_000_000, size + 1_500_000_000))
sys.argv = ["qa"] + sys.argv[1:]
qa.cli.app()
"""


def guarded_qa(*args: str):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    return subprocess.run([sys.executable, "-c", GUARDED_QA, *args], capture_output=True, text=True,
                          timeout=180, cwd=root)


def test_alias_bomb_is_refused_by_lint(tmp_path):
    assert len(BOMB) < 1100
    (tmp_path / "bomb.yaml").write_text(BOMB, encoding="utf-8")
    run = guarded_qa("rubric", "lint", str(tmp_path / "bomb.yaml"))
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "bomb.yaml:" in lines[0], lines
    assert "YAML aliases expand to more than 100000 extra nodes" in lines[0], lines


def test_alias_bomb_in_a_test_cases_file_is_refused(tmp_path):
    from rubrics import shipped

    (tmp_path / "r.yaml").write_text(shipped()["inbound_support"].read_text(encoding="utf-8"), encoding="utf-8")
    bomb_cases = BOMB.split("phrase_sets:")[0] + "cases: *i\n"
    (tmp_path / "r.tests.yaml").write_text(bomb_cases, encoding="utf-8")
    run = guarded_qa("rubric", "test", str(tmp_path / "r.yaml"))
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert "r.tests.yaml:" in run.stderr and "YAML aliases expand to more than" in run.stderr


def test_aliases_that_expand_a_little_still_load():
    text = VALID.replace("within: {first_seconds: 20}", "within: &start {first_seconds: 20}") + \
        "      - id: greeting_again\n        check: {phrases: $hello, within: *start}\n"
    rubric = parse_rubric(text, "r.yaml")
    assert rubric.sections[0].criteria[1].check.within.first_seconds == 20


def test_recursive_alias_is_one_line():
    text = VALID.replace('hello: {en: ["thank you for calling"]}', 'hello: &loop {en: ["hi", *loop]}')
    with pytest.raises(RubricError, match=r"^r.yaml:5: .*recursive alias"):
        parse_rubric(text, "r.yaml")


def test_deep_nesting_is_one_line():
    text = VALID + "extra: " + "[" * 2000 + "]" * 2000 + "\n"
    with pytest.raises(RubricError) as err:
        parse_rubric(text, "r.yaml")
    assert str(err.value).startswith("r.yaml") and "nested" in str(err.value)


def test_oversized_file_is_refused_unread(tmp_path):
    from scoring.rubric_loader import MAX_RUBRIC_BYTES

    path = tmp_path / "huge.yaml"
    path.write_text(VALID + "# " + "x" * MAX_RUBRIC_BYTES + "\n", encoding="utf-8")
    with pytest.raises(RubricError, match=r"huge.yaml: file is 5.0 MB; rubric files over 5 MB are refused"):
        load_rubric(path)
    with pytest.raises(RubricError, match="MB are refused"):
        parse_rubric(path.read_text(encoding="utf-8"), "huge.yaml")


# --- faults that used to pass lint: each is one line naming file, line, place and fault -------

DUPLICATE_SECTION = """\
  - id: opening
    criteria:
      - id: other
        check: {phrases: $hello}
"""
DUPLICATE_CRITERION = """\
  - id: closing
    criteria:
      - id: greeting
        check: {phrases: $hello}
"""


@pytest.mark.parametrize("old, new, where, fault", [
    (None, DUPLICATE_SECTION, "r.yaml:13: sections[1].id", "section id 'opening' is used twice"),
    (None, DUPLICATE_CRITERION, "r.yaml:15: sections[1].criteria[0].id",
     "criterion id 'greeting' is used twice (first at sections[0].criteria[0])"),
    ("weight: 20", "weight: .inf", "r.yaml:8: sections[0].weight", "finite number"),
    ("points: 10", "points: .nan", "r.yaml:11: sections[0].criteria[0].points", "finite number"),
    ("pass_mark: 80", "pass_mark: .nan", "r.yaml:3: pass_mark", "finite number"),
    ("first_seconds: 20", "first_seconds: .inf", "r.yaml:12: sections[0].criteria[0].check.within.first_seconds",
     "finite number"),
    ("{phrases: $hello, speaker: agent, within: {first_seconds: 20}}", "{metric: dead_air_s, max: .inf}",
     "r.yaml:12: sections[0].criteria[0].check.max", "finite number"),
    ("weight: 20", "weight: -5", "r.yaml:8: sections[0].weight", "greater than or equal to 0"),
    ("points: 10", "points: -1", "r.yaml:11: sections[0].criteria[0].points", "greater than or equal to 0"),
    ("{phrases: $hello, speaker: agent, within: {first_seconds: 20}}", "{metric: dead_air_s, min: -3}",
     "r.yaml:12: sections[0].criteria[0].check.min", "greater than or equal to 0"),
    ("weight: 20", "weight: 0", "r.yaml:6: sections", "every section has weight 0, so every call would score 100"),
    ("points: 10", "points: 0", "r.yaml:6: sections", "so every call would score 100"),
    ("{phrases: $hello, speaker: agent, within: {first_seconds: 20}}", "{metric: dead_air_s, min: 30, max: 10}",
     "r.yaml:12: sections[0].criteria[0].check", "min 30 is above max 10"),
    ('["thank you for calling"]', '["thank you for calling", "?!"]', "r.yaml:5: phrase_sets.hello.en[1]",
     "no letters or digits"),
    ('["thank you for calling"]', '["thank you for calling", "  "]', "r.yaml:5: phrase_sets.hello.en[1]",
     "no letters or digits"),
    ('["thank you for calling"]', '["$greeting"]', "r.yaml:5: phrase_sets.hello.en[0]",
     "'$greeting' is a phrase set reference"),
    ('["thank you for calling"]', '["hi", {$set: greeting}]', "r.yaml:5: phrase_sets.hello.en[1]",
     "a phrase must be text, got a mapping"),
    ('["thank you for calling"]', '["hi", 42]', "r.yaml:5: phrase_sets.hello.en[1]", "a phrase must be text, got a number"),
    ("phrases: $hello,", 'phrases: {en: ["hi", [nested]]},', "r.yaml:12: sections[0].criteria[0].check.phrases.en[1]",
     "a phrase must be text, got a list"),
    ("phrases: $hello,", 'phrases: {en: ["..."]},', "r.yaml:12: sections[0].criteria[0].check.phrases.en[0]",
     "no letters or digits"),
])
def test_fault_is_one_line_with_file_place_and_reason(old, new, where, fault):
    text = VALID + new if old is None else VALID.replace(old, new)
    assert text != VALID
    with pytest.raises(RubricError) as err:
        parse_rubric(text, "r.yaml")
    message = str(err.value)
    assert message.startswith(where + ": "), message
    assert fault in message and "\n" not in message


def test_phrase_with_a_dollar_amount_is_still_a_phrase():
    rubric = parse_rubric(VALID.replace('["thank you for calling"]', '["$5 late fee", "thank you for calling"]'))
    assert rubric.phrases("$hello", "en")[0] == "$5 late fee"


def test_lint_prints_each_fault_on_one_line(tmp_path):
    from typer.testing import CliRunner

    from qa.rubric_cli import rubric_app

    text = (VALID + DUPLICATE_SECTION).replace("weight: 20", "weight: .inf")
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(rubric_app, ["lint", str(tmp_path / "r.yaml")])
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error ")]
    assert len(errors) == 1 and "r.yaml:8: sections[0].weight: Input should be a finite number" in errors[0]


@pytest.mark.parametrize("value, fault", [
    ("2024-13-01", "month must be in 1..12"),          # looks like a date, is not one
    ("!!int twelve", "invalid literal for int()"),
    ("!!bool maybe", "cannot read this value"),
])
def test_unreadable_yaml_value_is_one_line(value, fault):
    with pytest.raises(RubricError) as err:
        parse_rubric(VALID.replace("name: Mini rubric", f"name: {value}"), "r.yaml")
    assert str(err.value).startswith("r.yaml:2: invalid YAML: cannot read this value") and fault in str(err.value)
