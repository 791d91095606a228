"""One system trained and evaluated on one row, in its own process (the parent starts it).

`python -m tests.benchmarks.systems --row fpb-50agree --system head --out result.json`

A fresh process per system keeps peak memory (ru_maxrss) honest for torch, whose allocations
tracemalloc does not see, and keeps one system's caches from helping the next one.

Every system is timed the same way: from the base model on disk to a trained model saved on
disk (tuning included), excluding the test-set evaluation. Accuracy and macro-F1 are computed
here, from each system's predicted labels, with the same scikit-learn calls for all.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.benchmarks import data  # noqa: E402

TESSERA_SYSTEMS = ("head", "lora", "full", "auto")
PEER_SYSTEMS = ("lr", "setfit")
SYSTEMS = TESSERA_SYSTEMS + PEER_SYSTEMS
LATENCY_REQUESTS = 50
LATENCY_WARMUP = 20  # see serving.LATENCY_WARMUP: the first calls after start-up are slower

# The peers' settings, quoted in docs/benchmarks.md.
LR_CS = (1.0, 10.0, 100.0)
LR_FOLDS = 3
SETFIT_BATCH_SIZE = 16  # setfit's default
SETFIT_EPOCHS = 1  # setfit's default for the embedding phase
SETFIT_PAPER_ITERATIONS = 20  # the value in setfit's README and paper (Tunstall et al. 2022)
# 20 iterations is 40 pairs per training text: 30,800 pairs (19 min here) for each 10-shot seed and
# 400,000 for full Banking77. With every row measured in one `make bench` run on 2 cores, setfit
# gets the same budget on every row instead: 10,000 pairs (625 steps at batch 16), as many
# iterations as reach it, cut at that step count. The report says so, and quotes the one
# measurement at 20 iterations (10-shot seed 0, an earlier run) beside it.
SETFIT_PAIR_BUDGET = 10_000
SMOKE_SETFIT_ITERATIONS = 1


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def directory_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def scores(truth: list[str], predicted: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro", zero_division=0)),
    }


def latency(predict_one, texts: list[str]) -> dict[str, float]:
    for text in texts[:LATENCY_WARMUP]:
        predict_one(text)
    samples = []
    for text in texts[:LATENCY_REQUESTS]:
        started = time.perf_counter()
        predict_one(text)
        samples.append((time.perf_counter() - started) * 1000)
    ordered = sorted(samples)
    return {"latency_p50_ms": statistics.median(samples), "latency_p95_ms": ordered[int(0.95 * (len(ordered) - 1))]}


def setfit_budget(n_train: int, *, smoke: bool) -> tuple[int, int]:
    """(num_iterations, max_steps): enough iterations to reach the pair budget, cut there."""
    if smoke:
        return SMOKE_SETFIT_ITERATIONS, -1
    iterations = min(SETFIT_PAPER_ITERATIONS, math.ceil(SETFIT_PAIR_BUDGET / (2 * n_train)))
    return iterations, SETFIT_PAIR_BUDGET // SETFIT_BATCH_SIZE


def run_tessera(
    strategy: str, row: data.Row, train, test, workdir: Path, spec, device: str, *, smoke: bool
) -> dict[str, Any]:
    from ml.artifacts import artifact_size_bytes
    from ml.classification import ClassificationConfig, Classifier, LabelledText, train_classifier

    output_dir = workdir / "artifact"
    started = time.perf_counter()
    result = train_classifier(
        train=[LabelledText(text=text, label=label) for text, label in train],
        validation=None,
        base_model=spec,
        # --smoke: one epoch, the same code path in seconds; otherwise the trainer's own defaults.
        config=ClassificationConfig(strategy=strategy, seed=row.seed, device=device, epochs=1 if smoke else None),
        output_dir=output_dir,
    )
    train_seconds = time.perf_counter() - started
    train_peak = peak_rss_bytes()
    classifier = Classifier.load(Path(result.artifact_dir), spec, device=device)
    test_texts = [text for text, _ in test]
    started = time.perf_counter()
    predicted = [prediction.label for prediction in classifier.predict(test_texts)]
    predict_seconds = time.perf_counter() - started
    return {
        **scores([label for _, label in test], predicted),
        "train_seconds": train_seconds,
        "train_peak_rss_bytes": train_peak,
        "artifact_bytes": artifact_size_bytes(Path(result.artifact_dir)),
        "predict_texts_per_s": len(test_texts) / predict_seconds,
        **latency(lambda text: classifier.predict([text]), test_texts),
        "strategy": result.strategy,
        "device": result.device,
        "epochs": len(result.history or []),
        "reported_train_seconds": result.train_seconds,
    }


def run_logistic_regression(row: data.Row, train, test, workdir: Path, spec, device: str) -> dict[str, Any]:
    import numpy as np
    from safetensors.numpy import save_file
    from sklearn.linear_model import LogisticRegressionCV

    from ml.encoders import load_encoder

    started = time.perf_counter()
    encoder = load_encoder(spec, device=device)
    features = encoder.encode([text for text, _ in train], batch_size=64, convert_to_numpy=True)
    # Light tuning: C by 3-fold stratified CV on the training texts only (the test set is never seen).
    model = LogisticRegressionCV(Cs=list(LR_CS), cv=LR_FOLDS, max_iter=1000, random_state=row.seed)
    model.fit(features, [label for _, label in train])
    workdir.mkdir(parents=True, exist_ok=True)
    # What a tenant's artifact would be: the weights (as scikit-learn holds them) and the label names.
    save_file({"coef": model.coef_, "intercept": model.intercept_}, str(workdir / "head.safetensors"))
    (workdir / "labels.json").write_text(json.dumps([str(label) for label in model.classes_]))
    train_seconds = time.perf_counter() - started
    train_peak = peak_rss_bytes()
    test_texts = [text for text, _ in test]
    started = time.perf_counter()
    predicted = list(model.predict(encoder.encode(test_texts, batch_size=64, convert_to_numpy=True)))
    predict_seconds = time.perf_counter() - started
    return {
        **scores([label for _, label in test], [str(label) for label in predicted]),
        "train_seconds": train_seconds,
        "train_peak_rss_bytes": train_peak,
        "artifact_bytes": directory_bytes(workdir),
        "predict_texts_per_s": len(test_texts) / predict_seconds,
        **latency(lambda text: model.predict(encoder.encode([text], convert_to_numpy=True)), test_texts),
        "device": str(encoder.device),
        "settings": (
            f"LogisticRegressionCV(Cs={list(LR_CS)}, cv={LR_FOLDS}, max_iter=1000) chose "
            f"C={float(np.ravel(model.C_)[0]):g}"
        ),
    }


def run_setfit(row: data.Row, train, test, workdir: Path, spec, device: str, *, smoke: bool) -> dict[str, Any]:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    labels = sorted({label for _, label in train})
    index = {label: number for number, label in enumerate(labels)}
    iterations, max_steps = setfit_budget(len(train), smoke=smoke)
    started = time.perf_counter()
    model = SetFitModel.from_pretrained(str(spec.path), device=device)
    arguments = TrainingArguments(
        output_dir=str(workdir / "checkpoints"),
        batch_size=SETFIT_BATCH_SIZE,
        num_epochs=SETFIT_EPOCHS,
        num_iterations=iterations,
        max_steps=max_steps,
        seed=row.seed,
        report_to="none",
        save_strategy="no",
        show_progress_bar=False,
    )
    dataset = Dataset.from_dict({"text": [text for text, _ in train], "label": [index[label] for _, label in train]})
    trainer = Trainer(model=model, args=arguments, train_dataset=dataset)
    trainer.train()
    model.save_pretrained(str(workdir / "model"))
    train_seconds = time.perf_counter() - started
    train_peak = peak_rss_bytes()
    test_texts = [text for text, _ in test]
    started = time.perf_counter()
    predicted = [labels[int(number)] for number in model.predict(test_texts, batch_size=64)]
    predict_seconds = time.perf_counter() - started
    return {
        **scores([label for _, label in test], predicted),
        "train_seconds": train_seconds,
        "train_peak_rss_bytes": train_peak,
        "artifact_bytes": directory_bytes(workdir / "model"),
        "predict_texts_per_s": len(test_texts) / predict_seconds,
        **latency(lambda text: model.predict([text]), test_texts),
        "device": str(model.device),
        "settings": (
            f"num_iterations={iterations} ({2 * iterations * len(train):,} pairs)"
            + (f", max_steps={max_steps} ({max_steps * SETFIT_BATCH_SIZE:,} pairs trained)" if max_steps > 0 else "")
            + f", num_epochs={SETFIT_EPOCHS}, "
            f"batch_size={SETFIT_BATCH_SIZE}, other arguments default (CosineSimilarityLoss, body lr 2e-5, "
            "LogisticRegression head)"
        ),
    }


def run(row: data.Row, system: str, *, smoke: bool, workdir: Path, device: str | None) -> dict[str, Any]:
    from ml.encoders import choose_device, resolve_base_model

    spec = resolve_base_model(os.environ.get("ML_BASE_MODEL_PATH") or None)
    device = choose_device(device)
    train, test = data.load_row(row, smoke=smoke)
    if workdir.exists():
        shutil.rmtree(workdir)
    if system in TESSERA_SYSTEMS:
        result = run_tessera(system, row, train, test, workdir, spec, device, smoke=smoke)
    elif system == "lr":
        result = run_logistic_regression(row, train, test, workdir / "lr", spec, device)
    elif system == "setfit":
        result = run_setfit(row, train, test, workdir, spec, device, smoke=smoke)
    else:
        raise SystemExit(f"Unknown system {system!r}; choose from {', '.join(SYSTEMS)}.")
    import torch

    return {
        **result,
        "n_train": len(train),
        "n_test": len(test),
        "n_labels": len({label for _, label in train}),
        "peak_rss_bytes": peak_rss_bytes(),
        "torch_threads": torch.get_num_threads(),
        "base_model": spec.name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row", required=True, choices=list(data.ROWS_BY_NAME))
    parser.add_argument("--system", required=True, choices=SYSTEMS)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--device", default=None)
    parser.add_argument("--smoke", action="store_true")
    arguments = parser.parse_args()
    try:
        result = run(
            data.ROWS_BY_NAME[arguments.row],
            arguments.system,
            smoke=arguments.smoke,
            workdir=arguments.workdir,
            device=arguments.device,
        )
    finally:
        # Artifacts are measured, then dropped: a full fine-tune or a setfit model is 90 MB each.
        shutil.rmtree(arguments.workdir, ignore_errors=True)
    arguments.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
