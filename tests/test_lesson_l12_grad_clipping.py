"""lessons/l12_grad_clipping.py: quick run in-process under this backend; slow full run on embedded data."""

import pytest
from lesson_support import check_results, load_lesson, run_lesson, record_and_compare_verdicts

NAME = "l12_grad_clipping"
FIGURES = {"clipping.png"}
RUNS = {"no clipping", "clipvalue=1", "clipnorm=1", "global_clipnorm=1"}


def _check_outputs(out, res):
    on_disk = check_results(out, res, NAME, n_claims=2, figures=FIGURES, exact_figures=True)
    assert set(on_disk["runs"]) == RUNS
    assert set(on_disk["metrics"]["first_non_finite"]) == RUNS
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res)


@pytest.mark.parametrize("flag, value", [("--clip", "0"), ("--init-std", "-1"), ("--depth", "0")])
def test_bad_arguments_are_rejected_before_training(tmp_path, flag, value):
    name = flag[2:].replace("-", "_")
    with pytest.raises(ValueError, match=rf"`{flag}`.*Received: {name}={value}"):
        load_lesson(NAME).main(["--quick", flag, value, "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
    assert res["metrics"]["first_non_finite"]["no clipping"]["epoch"] >= 1
