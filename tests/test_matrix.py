"""tests/matrix.py: the per-backend runner behind `make test` reads pytest's closing line right."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("matrix", Path(__file__).with_name("matrix.py"))
matrix = importlib.util.module_from_spec(spec)
spec.loader.exec_module(matrix)


def test_parse_summary_counts():
    text = "....F\nFAILED tests/x.py::t - boom\n3 failed, 10 passed, 1 skipped, 2 deselected in 2.05s\n"
    assert matrix.parse_summary(text) == {"passed": 10, "failed": 3, "skipped": 1, "error": 0}


def test_parse_summary_errors_and_empty_runs():
    assert matrix.parse_summary("1 passed, 2 errors in 1s")["error"] == 2
    assert matrix.parse_summary("no tests ran in 0.01s") == {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    assert matrix.parse_summary("") == {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
