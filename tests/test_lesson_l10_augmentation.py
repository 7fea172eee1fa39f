"""lessons/l10_augmentation.py: quick run in-process under this backend; slow full run on embedded data."""

import pytest
from lesson_support import assert_bad_flag, check_results, run_lesson, record_and_compare_verdicts

NAME = "l10_augmentation"
FIGURES = {"augmented_samples.png", "learning_curves.png", "accuracy.png"}


def _check_outputs(out, res):
    on_disk = check_results(out, res, NAME, n_claims=2, figures=FIGURES, exact_figures=True)
    assert set(on_disk["runs"]) == {"no augmentation", "augmentation"}
    for label in ("no augmentation", "augmentation"):
        assert 0.0 <= on_disk["metrics"][label]["test"] <= 1.0
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res)


def test_bad_rotation_is_rejected_before_training(tmp_path):
    assert_bad_flag(NAME, ["--quick", "--rotation", "200"], r"`--rotation`.*Received: rotation=200", tmp_path)
    with pytest.raises(ValueError, match=r"`--upsample`.*Received: upsample=3"):
        run_lesson(NAME, tmp_path, "--quick", "--upsample", "3")


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    assert res["config"]["upsampled_to"] == 28 and res["config"]["n_train"] == 100
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
