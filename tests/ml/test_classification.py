import json
from dataclasses import replace
from pathlib import Path

import pytest

from ml.artifacts import MANIFEST, IncompatibleArtifact, read_manifest
from ml.classification import ClassificationConfig, Classifier, LabelledText, evaluate_classifier, train_classifier
from ml.classification.data import stratified_split
from ml.progress import TrainingCancelled, TrainingDataError
from tests.ml.conftest import FAST, Recorder
from tests.ml.data import LABELS, TEST, TRAIN

ALLOWED_FILES = (".json", ".safetensors", ".txt")


@pytest.mark.parametrize("strategy", ["head", "lora", "full"])
def test_each_strategy_trains_and_predicts_above_chance(trained, spec, strategy):
    result, recorder = trained(strategy)

    metrics = evaluate_classifier(artifact_dir=result.artifact_dir, base_model=spec, examples=TEST)

    assert result.strategy == strategy
    assert result.task == "classification"
    assert metrics["accuracy"] >= 0.75  # chance is 0.25 with 4 intents
    assert len(result.history) == FAST[strategy]["epochs"]
    assert {"epoch", "train_loss", "val_loss", "val_accuracy", "train_accuracy"} <= set(result.history[-1])
    assert len([e for e in recorder.events if e.kind == "metrics"]) == FAST[strategy]["epochs"]
    assert recorder.progress[-1][0] == 1.0


def test_artifact_round_trip_gives_the_same_predictions(trained, spec, encoder):
    result, _ = trained("lora")
    texts = [row.text for row in TEST]

    first = Classifier.load(result.artifact_dir, spec, device="cpu").predict(texts)
    second = Classifier.load(result.artifact_dir, spec, device="cpu", encoder=encoder).predict(texts)

    assert [p.label for p in first] == [p.label for p in second]
    assert [p.confidence for p in first] == pytest.approx([p.confidence for p in second], abs=1e-5)
    assert sorted(first[0].probabilities) == LABELS
    assert sum(first[0].probabilities.values()) == pytest.approx(1.0)


def test_lora_artifact_scores_like_the_trained_model(spec, tmp_path):
    # The served adapter (forward hooks) must reproduce peft's training-time model exactly. An
    # explicit validation set stays held out (no head refit), so the scores must match.
    config = ClassificationConfig(strategy="lora", epochs=2, batch_size=8, device="cpu")
    result = train_classifier(
        train=TRAIN, validation=TEST, base_model=spec, config=config, output_dir=tmp_path / "model"
    )
    manifest = read_manifest(result.artifact_dir)

    metrics = evaluate_classifier(artifact_dir=result.artifact_dir, base_model=spec, examples=TEST)

    assert manifest["strategy"] == "lora"
    assert "head_refit_on_all_rows" not in manifest["config"]
    assert metrics["accuracy"] == result.metrics["accuracy"]
    assert metrics["ece_after"] == pytest.approx(result.metrics["ece_after"], abs=1e-4)


def test_contrastive_head_is_refitted_on_the_held_out_rows_too(trained, spec):
    result, recorder = trained("lora")
    _, validation = stratified_split(TRAIN, seed=42)  # the split train_classifier made

    metrics = evaluate_classifier(artifact_dir=result.artifact_dir, base_model=spec, examples=validation)

    assert read_manifest(result.artifact_dir)["config"]["head_refit_on_all_rows"] is True
    assert metrics["accuracy"] >= result.metrics["accuracy"]  # the refitted head has seen these rows
    assert any(e.message.startswith("Refitted the head on all rows") for e in recorder.events)


def test_a_foreign_base_model_is_refused(trained, spec, tmp_path):
    result, _ = trained("head")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for file in Path(result.artifact_dir).iterdir():
        (foreign / file.name).write_bytes(file.read_bytes())
    manifest = json.loads((foreign / MANIFEST).read_text())
    manifest["base_model"] = {"name": "someone/else", "sha256": "ab" * 32}
    (foreign / MANIFEST).write_text(json.dumps(manifest))

    with pytest.raises(IncompatibleArtifact, match="trained on base model someone/else"):
        Classifier.load(foreign, spec, device="cpu")


def test_an_altered_weight_file_is_refused(trained, spec, tmp_path):
    result, _ = trained("head")
    altered = tmp_path / "altered"
    altered.mkdir()
    for file in Path(result.artifact_dir).iterdir():
        (altered / file.name).write_bytes(file.read_bytes())
    head = altered / "head.safetensors"
    head.write_bytes(head.read_bytes()[:-4] + b"\x00\x00\x80\x3f")

    with pytest.raises(IncompatibleArtifact, match="does not match its sha256"):
        Classifier.load(altered, spec, device="cpu")


@pytest.mark.parametrize("strategy", ["head", "lora", "full"])
def test_artifacts_hold_no_pickle(trained, strategy):
    result, _ = trained(strategy)
    files = [path for path in Path(result.artifact_dir).rglob("*") if path.is_file()]
    manifest = read_manifest(result.artifact_dir)

    assert all(path.suffix in ALLOWED_FILES for path in files), files
    assert {"head.safetensors", "adapter.safetensors"} & {p.name for p in files}
    assert set(manifest["files"]) == {p.relative_to(result.artifact_dir).as_posix() for p in files} - {MANIFEST}
    assert ("adapter.safetensors" in manifest["files"]) == (strategy == "lora")
    assert ("encoder/model.safetensors" in manifest["files"]) == (strategy == "full")


def test_manifest_records_resolved_settings_and_versions(trained, spec):
    result, recorder = trained("lora")
    manifest = read_manifest(result.artifact_dir)

    assert manifest["base_model"] == {"name": spec.name, "sha256": spec.weights_sha256}
    assert manifest["labels"] == LABELS
    assert manifest["config"]["lora_rank"] == 8
    assert manifest["config"]["learning_rate"] == 1e-3
    assert manifest["config"]["objective"] == "contrastive"  # 32 rows: SetFit-style encoder training
    assert manifest["config"]["epochs"] == 4
    assert set(manifest["library_versions"]) == {"torch", "transformers", "sentence_transformers", "peft", "python"}
    assert any("LoRA rank 8" in event.message for event in recorder.events)


def test_calibration_is_sane_on_held_out_data(trained, spec):
    result, _ = trained("head")

    metrics = evaluate_classifier(artifact_dir=result.artifact_dir, base_model=spec, examples=TEST)

    assert result.metrics["temperature"] > 0
    assert 0.0 <= result.metrics["suggested_threshold"] <= 1.0
    assert result.metrics["ece_after"] <= result.metrics["ece_before"] + 0.05
    assert metrics["ece_after"] <= metrics["ece_before"] + 0.05
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix", "threshold_precision"} <= set(result.metrics)


def test_predictions_flag_confidence_below_the_threshold(trained, spec):
    result, _ = trained("head")
    classifier = Classifier.load(result.artifact_dir, spec, device="cpu")

    predictions = classifier.predict([row.text for row in TEST] + ["zebra quantum violin"])

    assert all(p.is_unsure == (p.confidence < classifier.suggested_threshold) for p in predictions)


def test_auto_chooses_head_for_tiny_data_and_says_why(spec, tmp_path):
    recorder = Recorder()

    result = train_classifier(
        train=TRAIN,
        validation=None,
        base_model=spec,
        config=ClassificationConfig(epochs=2, device="cpu"),
        output_dir=tmp_path / "auto",
        callbacks=recorder,
    )

    assert result.strategy == "head"
    assert any(e.message.startswith("Strategy auto chose head") for e in recorder.events)


def test_cancel_raises_and_leaves_no_output(spec, tmp_path):
    output = tmp_path / "cancelled"

    with pytest.raises(TrainingCancelled):
        train_classifier(
            train=TRAIN,
            validation=None,
            base_model=spec,
            config=ClassificationConfig(strategy="lora", epochs=3, batch_size=8, device="cpu"),
            output_dir=output,
            callbacks=Recorder(stop_after_batches=2),
        )

    assert not output.exists()
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_resumes_at_the_last_finished_epoch(spec, tmp_path):
    config = ClassificationConfig(strategy="lora", epochs=1, batch_size=8, device="cpu")
    first = train_classifier(
        train=TRAIN,
        validation=TEST,
        base_model=spec,
        config=config,
        output_dir=tmp_path / "one",
        checkpoint_dir=tmp_path / "ckpt",
    )
    recorder = Recorder()

    second = train_classifier(
        train=TRAIN,
        validation=TEST,
        base_model=spec,
        config=replace(config, epochs=2),
        output_dir=tmp_path / "two",
        checkpoint_dir=tmp_path / "ckpt",
        callbacks=recorder,
    )

    assert first.resumed_from_epoch is None
    assert second.resumed_from_epoch == 1
    assert [row["epoch"] for row in second.history] == [1, 2]
    assert second.history[0] == first.history[0]
    assert any(e.message == "Resumed from epoch 1." for e in recorder.events)
    assert len([e for e in recorder.events if e.kind == "metrics"]) == 1


def test_one_class_only_is_refused(spec, tmp_path):
    rows = [row for row in TRAIN if row.label == "card_lost"]

    with pytest.raises(TrainingDataError, match="one class only"):
        train_classifier(
            train=rows, validation=None, base_model=spec, config=ClassificationConfig(), output_dir=tmp_path / "x"
        )
    assert not (tmp_path / "x").exists()


def test_a_label_with_one_example_is_refused(spec, tmp_path):
    rows = [*TRAIN, LabelledText("Can I get a loan?", "loans")]

    with pytest.raises(TrainingDataError, match="'loans'"):
        train_classifier(
            train=rows, validation=None, base_model=spec, config=ClassificationConfig(), output_dir=tmp_path / "x"
        )


def test_empty_text_is_refused(spec, tmp_path):
    rows = [*TRAIN, LabelledText("   ", "card_lost")]

    with pytest.raises(TrainingDataError, match="empty text"):
        train_classifier(
            train=rows, validation=None, base_model=spec, config=ClassificationConfig(), output_dir=tmp_path / "x"
        )
