import pytest

from ml.classification import ClassificationConfig, Classifier, train_classifier
from tests.ml.data import TEST, TRAIN


@pytest.mark.gpu
@pytest.mark.parametrize("strategy", ["head", "lora"])
def test_training_and_prediction_on_cuda_with_autocast(spec, tmp_path, strategy):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    config = ClassificationConfig(strategy=strategy, epochs=3, batch_size=8, device="cuda")

    result = train_classifier(train=TRAIN, validation=None, base_model=spec, config=config, output_dir=tmp_path / "m")
    predictions = Classifier.load(result.artifact_dir, spec, device="cuda").predict([row.text for row in TEST])

    assert result.device == "cuda"
    assert len(predictions) == len(TEST)
    assert sum(p.label == row.label for p, row in zip(predictions, TEST, strict=True)) >= len(TEST) // 2
