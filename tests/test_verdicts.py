"""tests/verdicts.py: the cross-backend verdict table and the check against the recorded outcomes."""

import json

import pytest
import verdicts


def _results(backend, outcome, lesson="l99_x"):
    return {"lesson": lesson, "backend": backend, "wall_time_s": 1.0, "versions": {"keras": "3", backend: "1"},
            "device": "cpu", "dataset": {"mnist": {"name": "mnist5k", "sizes": {"test": 1000}}},
            "config": {"seeds": 5}, "references": [],
            "claims": [{"claim": "a beats b", "kind": "empirical", "outcome": outcome, "effect": 0.02, "low": 0.01,
                        "high": 0.03, "seeds": 5, "unit": "pp", "evidence": "numbers"},
                       {"claim": "identity", "kind": "exact", "outcome": "holds", "discrepancy": 1e-7,
                        "tolerance": 1e-5, "evidence": "numbers"}]}


@pytest.fixture
def paths(tmp_path, monkeypatch):
    monkeypatch.setattr(verdicts, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(verdicts, "EXPECTED", tmp_path / "verdicts.json")
    monkeypatch.delenv("KREG_RECORD_VERDICTS", raising=False)
    return tmp_path


def test_table_and_conflicts(paths):
    verdicts.record(_results("jax", "holds"))
    verdicts.record(_results("torch", "inconclusive"))
    text, conflicts = verdicts.table(verdicts.load_records())
    assert "| a beats b | **holds** 2.00 pp [1.00, 3.00], 5 seeds | **inconclusive**" in text
    assert "| identity | **holds** (max diff 1.0e-07, tol 1e-05)" in text
    assert conflicts == []  # inconclusive vs holds is not a contradiction
    verdicts.record(_results("tensorflow", "does not hold"))
    _, conflicts = verdicts.table(verdicts.load_records())
    assert len(conflicts) == 1 and "tensorflow does not hold" in conflicts[0] and "jax holds" in conflicts[0]
    out = paths / "VERDICTS.md"
    assert verdicts.main(["--out", str(out)]) == 1 and out.is_file()


def test_expected_outcomes_are_recorded_and_compared(paths, monkeypatch):
    res = _results("jax", "holds")
    assert any("no expected outcome" in p for p in verdicts.check_expected(res))
    monkeypatch.setenv("KREG_RECORD_VERDICTS", "1")
    verdicts.record(res)
    assert json.loads((paths / "verdicts.json").read_text())["l99_x"]["a beats b"] == {"jax": "holds"}
    monkeypatch.delenv("KREG_RECORD_VERDICTS")
    assert verdicts.check_expected(res) == []
    changed = _results("jax", "inconclusive")
    problems = verdicts.check_expected(changed)
    assert len(problems) == 1 and "expects holds" in problems[0]


def test_records_say_which_code_produced_them(paths):
    """A record carries the commit and the lesson file's blob hash; a changed lesson file makes it stale."""
    path = verdicts.record(_results("jax", "holds", lesson="l10_dropout"))
    rec = json.loads(path.read_text())
    code = rec["code"]
    if code["commit"] is None:
        pytest.skip("not a git checkout (an sdist): records carry no commit")
    assert len(code["commit"]) == 40 and code["lesson_blob"] == verdicts.lesson_blob("l10_dropout")
    pv = verdicts.provenance(rec)
    assert pv["stale"] is False and pv["commit"] == code["commit"] and not pv["inferred"]
    rec["code"]["lesson_blob"] = "0" * 40  # as if recorded from another version of the lesson
    assert verdicts.provenance(rec)["stale"] is True
    text, _ = verdicts.table({"l10_dropout": {"jax": rec}})
    assert "the lesson has changed since" in text and code["commit"][:10] in text
