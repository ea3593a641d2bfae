"""The Problem core's declared types: Summary (what finalize returns) and the conditional flag."""
import json

from loopengine.problems.base import ConditionalProblem, Problem, Summary, SummaryTable


def test_summary_json_keeps_fields_then_the_table():
    table = SummaryTable("t", ["metric", "value"], [["accuracy", "90.00%"]])
    out = Summary({"metrics": {"accuracy": 0.9}, "targets": 3}, table).to_json()
    assert list(out) == ["metrics", "targets", "table"]
    assert out["table"] == {"title": "t", "columns": ["metric", "value"], "rows": [["accuracy", "90.00%"]]}
    assert Summary({"a": 1}).to_json() == {"a": 1}  # no table, no key
    assert SummaryTable.from_json(json.loads(json.dumps(out))["table"]) == table


def test_summary_table_reads_only_tables():
    assert SummaryTable.from_json(None) is None
    assert SummaryTable.from_json("rows") is None
    assert SummaryTable.from_json({"columns": "x", "rows": []}) is None
    read = SummaryTable.from_json({"columns": [1], "rows": [[2], 3]})
    assert read == SummaryTable("summary", ["1"], [[2], [3]])


def test_conditional_follows_the_class():
    class Plain(Problem):
        pass

    class Prompted(ConditionalProblem):
        pass

    assert not Plain(None).conditional
    assert Prompted(None).conditional
