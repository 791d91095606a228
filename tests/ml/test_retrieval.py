from pathlib import Path

import pytest

from ml.artifacts import read_manifest
from ml.progress import TrainingDataError
from ml.retrieval import RetrievalConfig, Retriever, evaluate_retriever, train_retriever
from tests.ml.data import FAQ, PAIRS

ANSWERS = list(FAQ)


@pytest.fixture(scope="module")
def lora_retriever(spec, tmp_path_factory):
    output = tmp_path_factory.mktemp("retrieval") / "faq"
    config = RetrievalConfig(strategy="lora", epochs=2, batch_size=8, device="cpu")
    return train_retriever(train=PAIRS, validation=PAIRS, base_model=spec, config=config, output_dir=output)


def test_training_keeps_or_improves_mrr(lora_retriever):
    metrics = lora_retriever.metrics

    assert metrics["mrr"] >= metrics["base_mrr"] - 1e-6
    assert {"recall_at_1", "recall_at_5", "recall_at_10", "base_recall_at_1"} <= set(metrics)
    assert [row["epoch"] for row in lora_retriever.history] == [1, 2]


def test_search_returns_the_right_answer(lora_retriever, spec):
    retriever = Retriever.load(lora_retriever.artifact_dir, spec, device="cpu")

    results = retriever.search(answers=ANSWERS, queries=["my card was stolen", "what time do you open"], k=3)

    assert [hits[0][0] for hits in results] == [0, 1]
    assert len(results[0]) == 3
    assert results[0][0][1] >= results[0][1][1]


def test_lora_artifact_stores_only_the_adapter(lora_retriever, spec):
    files = sorted(path.name for path in Path(lora_retriever.artifact_dir).iterdir())

    metrics = evaluate_retriever(artifact_dir=lora_retriever.artifact_dir, base_model=spec, pairs=PAIRS)

    assert files == ["adapter.safetensors", "manifest.json"]
    assert read_manifest(lora_retriever.artifact_dir)["task"] == "retrieval"
    assert metrics["mrr"] == pytest.approx(lora_retriever.metrics["mrr"], abs=1e-4)


def test_encodings_are_normalised(lora_retriever, spec):
    vectors = Retriever.load(lora_retriever.artifact_dir, spec, device="cpu").encode(["hello", "where is my pin"])

    assert vectors.shape == (2, 384)
    assert (abs((vectors**2).sum(axis=1) - 1.0) < 1e-4).all()


def test_full_retrieval_stores_the_encoder(spec, tmp_path):
    config = RetrievalConfig(strategy="full", epochs=1, batch_size=8, device="cpu")

    result = train_retriever(train=PAIRS, validation=None, base_model=spec, config=config, output_dir=tmp_path / "f")

    assert (result.artifact_dir / "encoder" / "model.safetensors").exists()
    assert Retriever.load(result.artifact_dir, spec, device="cpu").encode(["x"]).shape == (1, 384)


def test_head_strategy_is_refused_for_retrieval(spec, tmp_path):
    with pytest.raises(TrainingDataError, match="head does not apply"):
        train_retriever(
            train=PAIRS,
            validation=None,
            base_model=spec,
            config=RetrievalConfig(strategy="head"),
            output_dir=tmp_path / "x",
        )
