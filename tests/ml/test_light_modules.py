import json
import subprocess
import sys

import numpy as np
import pytest

from ml.artifacts import IncompatibleArtifact, check_base_model, read_manifest, write_manifest
from ml.encoders import EncoderSpec
from ml.estimates import choose_strategy, estimate_training_seconds
from ml.evaluation import (
    accuracy,
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    macro_f1,
    mean_reciprocal_rank,
    recall_at_k,
    suggest_threshold,
)


def _imports_torch(code):
    program = f"import sys\n{code}\nprint('torch' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    return output.stdout.strip()


def test_web_side_modules_do_not_import_torch():
    code = (
        "import ml.estimates, ml.progress, ml.artifacts, ml.evaluation, ml.classification, ml.retrieval, ml.serving\n"
        "ml.estimates.choose_strategy(task='classification', n_examples=500, n_labels=5, device='cpu')"
    )

    assert _imports_torch(code) == "False"


def test_reading_a_manifest_does_not_import_torch(tmp_path):
    write_manifest(
        tmp_path,
        {"task": "classification", "strategy": "head", "base_model": {}, "metrics": {}, "config": {}},
    )

    assert (
        _imports_torch(
            f"import ml.artifacts\nml.artifacts.read_manifest(__import__('pathlib').Path({str(tmp_path)!r}))"
        )
        == "False"
    )


@pytest.mark.parametrize(
    ("n_examples", "n_labels", "device", "strategy"),
    [
        (24, 3, "cpu", "head"),
        (770, 77, "cpu", "lora"),
        (200, 77, "cpu", "head"),
        (10_000, 77, "cuda", "full"),
        (500, 5, "cuda", "lora"),
        (1_000_000, 10, "cpu", "head"),
    ],
)
def test_choose_strategy(n_examples, n_labels, device, strategy):
    chosen, reason = choose_strategy(task="classification", n_examples=n_examples, n_labels=n_labels, device=device)

    assert chosen == strategy
    assert reason.startswith(f"Strategy auto chose {strategy}")


def test_retrieval_never_gets_head():
    assert choose_strategy(task="retrieval", n_examples=10, n_labels=0, device="cpu")[0] == "lora"


def test_estimates_grow_with_data_and_cost():
    small = estimate_training_seconds(task="classification", strategy="lora", n_examples=100, device="cpu")
    large = estimate_training_seconds(task="classification", strategy="lora", n_examples=10_000, device="cpu")
    head = estimate_training_seconds(task="classification", strategy="head", n_examples=10_000, device="cpu")
    full = estimate_training_seconds(task="classification", strategy="full", n_examples=10_000, device="cpu")

    assert 0 < small < large
    assert head < large < full
    # the budgets: Banking77 10-shot (770 rows) <= 3 min, all 10k rows <= 15 min on 2 CPU cores
    assert estimate_training_seconds(task="classification", strategy="lora", n_examples=770, device="cpu") <= 180
    assert large <= 15 * 60


def test_manifest_round_trip_and_validation(tmp_path):
    (tmp_path / "head.safetensors").write_bytes(b"x")
    write_manifest(
        tmp_path, {"task": "classification", "strategy": "head", "base_model": {}, "metrics": {}, "config": {}}
    )

    manifest = read_manifest(tmp_path)

    assert manifest["format_version"] == 1
    assert set(manifest["files"]) == {"head.safetensors"}
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["format_version"] = 99
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(IncompatibleArtifact, match="format version 99"):
        read_manifest(tmp_path)


def test_check_base_model_names_both_models():
    spec = EncoderSpec(name="ours", path=None, weights_sha256="a" * 64)

    with pytest.raises(IncompatibleArtifact, match=r"trained on base model theirs \(sha256 bbbbbbbbbbbb…\) but this"):
        check_base_model({"base_model": {"name": "theirs", "sha256": "b" * 64}}, spec)


def test_classification_metrics_exact_values():
    y_true, y_pred = [0, 0, 1, 1], [0, 1, 1, 1]

    assert accuracy(y_true, y_pred) == 0.75
    assert confusion_matrix(y_true, y_pred, 2) == [[1, 1], [0, 2]]
    assert macro_f1(y_true, y_pred, 2) == pytest.approx((2 / 3 + 0.8) / 2)


def test_ece_and_threshold():
    assert expected_calibration_error([0.9, 0.9], [True, False]) == pytest.approx(0.4)
    assert suggest_threshold([0.9, 0.8, 0.4], [True, True, False], 0.9) == (0.8, 1.0, pytest.approx(2 / 3))
    threshold, precision, coverage = suggest_threshold([0.9, 0.8], [False, True], 0.99)
    assert (threshold, precision, coverage) == (0.8, 0.5, 1.0)


def test_temperature_softens_overconfident_logits():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3))
    logits[np.arange(300), labels] += 1.0
    overconfident = logits * 10

    assert fit_temperature(overconfident, labels) > 3.0


def test_ranking_metrics():
    assert recall_at_k([1, 3, 10], 5) == pytest.approx(2 / 3)
    assert mean_reciprocal_rank([1, 2]) == 0.75
