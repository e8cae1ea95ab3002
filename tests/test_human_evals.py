"""qa.human_evals: reading a CSV file of existing human evaluations."""

from datetime import date, datetime, timedelta, timezone

import pytest

from qa.human_evals import HumanEval, HumanEvalError, parse_human_evals, read_human_evals


def parse(text):
    return parse_human_evals(text, source="evals.csv")


def error(text):
    with pytest.raises(HumanEvalError) as info:
        parse(text)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_reads_file_with_bom_and_all_columns(tmp_path):
    path = tmp_path / "evals.csv"
    path.write_bytes("\ufeffcall_id,criterion_id,outcome,evaluator,date,comment\n"
                     "c1,greeting,pass,ann,2026-11-20,said hello\n"
                     'c1,empathy,fail,ann,2026-11-20T14:05:00,"no, not really"\n'.encode())
    assert read_human_evals(path) == [
        HumanEval("c1", "greeting", "pass", "ann", date(2026, 11, 20), "said hello", 2),
        HumanEval("c1", "empathy", "fail", "ann", datetime(2026, 11, 20, 14, 5), "no, not really", 3),
    ]


def test_error_names_file_path(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("call,criterion,outcome,evaluator\nc1,greeting,maybe,ann\n")
    with pytest.raises(HumanEvalError, match=r"bad\.csv:2: unknown outcome 'maybe'") as info:
        read_human_evals(path)
    assert info.value.line == 2 and info.value.source == str(path)


@pytest.mark.parametrize("header", [
    "call_id,criterion_id,outcome,evaluator,date,comment",
    "Call,Criterion,Answer,Reviewer,Evaluated_At,Notes",
    "CALLID,QUESTION,RESULT,RATER,DATE,COMMENT",
    "Call ID,Criterion ID,Outcome,Evaluator,Evaluated-at,Comment",
    " call_id , criterion_id , outcome , evaluator , date , comment ",
])
def test_header_aliases(header):
    [record] = parse(header + "\nc1,greeting,pass,ann,2026-11-20,ok\n")
    assert record == HumanEval("c1", "greeting", "pass", "ann", date(2026, 11, 20), "ok", 2)


def test_optional_columns_absent_and_extra_columns_ignored():
    [record] = parse("team,call,criterion,outcome,evaluator\nsupport,c1,greeting,yes,ann\n")
    assert record == HumanEval("c1", "greeting", "pass", "ann", None, None, 2)


def test_empty_optional_cells_are_none():
    [record] = parse("call,criterion,outcome,evaluator,date,comment\nc1,greeting,pass,ann,,  \n")
    assert record.date is None and record.comment is None


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters(delimiter):
    text = delimiter.join(["call", "criterion", "outcome", "evaluator", "comment"]) + "\n" \
        + delimiter.join(["c1", "greeting", "not met", "ann", "late; abrupt, cold"]).replace(
            "late; abrupt, cold", '"late; abrupt, cold"') + "\n"
    [record] = parse(text)
    assert record.outcome == "fail" and record.comment == "late; abrupt, cold"


@pytest.mark.parametrize("value,outcome", [
    ("pass", "pass"), ("PASS", "pass"), ("Yes", "pass"), ("y", "pass"), ("true", "pass"),
    ("1", "pass"), ("Met", "pass"),
    ("fail", "fail"), ("No", "fail"), ("n", "fail"), ("FALSE", "fail"), ("0", "fail"),
    ("not met", "fail"), ("Not  Met", "fail"),
    ("na", "na"), ("N/A", "na"), ("n/a", "na"), ("Not Applicable", "na"), ("-", "na"), (" NA ", "na"),
])
def test_outcomes_normalised(value, outcome):
    [record] = parse(f"call,criterion,outcome,evaluator\nc1,greeting,{value},ann\n")
    assert record.outcome == outcome


@pytest.mark.parametrize("value", ["maybe", "passed", "2", "n.a."])
def test_unknown_outcome(value):
    assert error(f"call,criterion,outcome,evaluator\nc1,greeting,pass,ann\nc2,greeting,{value},ann\n") \
        == f"evals.csv:3: unknown outcome '{value}' (expected pass, fail or na)"


@pytest.mark.parametrize("value,expected", [
    ("2026-11-20", date(2026, 11, 20)),
    ("2026-11-20T14:05:00", datetime(2026, 11, 20, 14, 5)),
    ("2026-11-20 14:05", datetime(2026, 11, 20, 14, 5)),
    ("2026-11-20T14:05:00Z", datetime(2026, 11, 20, 14, 5, tzinfo=timezone.utc)),
    ("2026-11-20T14:05:00+02:00", datetime(2026, 11, 20, 14, 5, tzinfo=timezone(timedelta(hours=2)))),
])
def test_iso_dates(value, expected):
    [record] = parse(f"call,criterion,outcome,evaluator,date\nc1,greeting,pass,ann,{value}\n")
    assert record.date == expected and type(record.date) is type(expected)


@pytest.mark.parametrize("value", ["20/11/2026", "2026-13-01", "yesterday", "2026-11-20T25:00"])
def test_bad_date(value):
    message = error(f"call,criterion,outcome,evaluator,date\nc1,greeting,pass,ann,{value}\n")
    assert message.startswith(f"evals.csv:2: bad date '{value}'")


def test_missing_required_column():
    message = error("call,criterion,evaluator,date\nc1,greeting,ann,2026-11-20\n")
    assert message.startswith("evals.csv:1: missing required column outcome")
    assert error("call_id,notes\nc1,x\n").startswith(
        "evals.csv:1: missing required column criterion_id, outcome, evaluator")


def test_two_columns_for_one_field():
    assert "both give the call_id" in error("call,call_id,criterion,outcome,evaluator\n")


def test_empty_call_id():
    assert error("call,criterion,outcome,evaluator\nc1,greeting,pass,ann\n  ,greeting,pass,ann\n") \
        == "evals.csv:3: empty call id"


def test_empty_other_required_cells():
    assert error("call,criterion,outcome,evaluator\nc1,,pass,ann\n") == "evals.csv:2: empty criterion id"
    assert error("call,criterion,outcome,evaluator\nc1,greeting,pass,\n") == "evals.csv:2: empty evaluator"
    assert error("call,criterion,outcome,evaluator\nc1,greeting,,ann\n") == "evals.csv:2: empty outcome"
    assert error("call,criterion,outcome,evaluator\nc1,greeting\n") == "evals.csv:2: empty outcome"


def test_repeated_call_criterion_evaluator():
    text = ("call,criterion,outcome,evaluator\n"
            "c1,greeting,pass,ann\n"
            "c1,greeting,pass,bob\n"      # another evaluator: fine
            "c1,empathy,pass,ann\n"       # another criterion: fine
            "c1,greeting,fail,ann\n")
    assert error(text) == "evals.csv:5: call 'c1', criterion 'greeting', evaluator 'ann' repeats line 2"


def test_too_many_fields():
    assert error("call,criterion,outcome,evaluator\nc1,greeting,pass,ann,extra\n") \
        == "evals.csv:2: 5 fields, the header has 4"


def test_line_numbers_count_blank_lines_and_multiline_cells():
    text = ("call,criterion,outcome,evaluator,comment\n"
            "\n"
            'c1,greeting,pass,ann,"two\nlines"\n'
            "c2,greeting,pass,ann,\n"
            "c3,greeting,bad,ann,\n")
    assert error(text) == "evals.csv:6: unknown outcome 'bad' (expected pass, fail or na)"
    records = parse(text.replace("bad", "pass"))
    assert [r.line for r in records] == [3, 5, 6]
    assert records[0].comment == "two\nlines"


def test_crlf_line_endings():
    records = parse("call;criterion;outcome;evaluator\r\nc1;greeting;pass;ann\r\nc2;greeting;fail;ann\r\n")
    assert [(r.call_id, r.outcome, r.line) for r in records] == [("c1", "pass", 2), ("c2", "fail", 3)]


def test_empty_file_and_not_utf8():
    assert error("") == "evals.csv:1: empty file: expected a header line"
    with pytest.raises(HumanEvalError, match=r"evals\.csv:2: not UTF-8 text"):
        parse_human_evals(b"call,criterion,outcome,evaluator\nc1,gr\xe9eting,pass,ann\n", "evals.csv")


def test_header_only_gives_no_records():
    assert parse("call,criterion,outcome,evaluator\n") == []
