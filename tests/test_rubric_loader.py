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
