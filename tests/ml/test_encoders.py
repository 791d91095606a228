import pytest

from ml.encoders import choose_device, load_encoder, resolve_base_model


@pytest.fixture(scope="session")
def spec():
    return resolve_base_model()


def test_default_base_model_comes_from_the_package(spec):
    assert spec.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert (spec.path / "config.json").exists()
    assert len(spec.weights_sha256) == 64


def test_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_base_model(tmp_path / "nope")


def test_the_encoder_loads_offline_and_embeds(spec):
    model = load_encoder(spec, device="cpu")

    vectors = model.encode(["Where is my card?", "My card has not arrived", "What are your opening hours?"])

    assert vectors.shape == (3, 384)
    similar = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert similar > unrelated


def test_cpu_is_chosen_without_a_gpu():
    import torch

    assert choose_device() == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.gpu
def test_cuda_encoder_uses_half_precision(spec):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model = load_encoder(spec, device="cuda")
    assert next(model.parameters()).dtype == torch.float16
