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


def test_token_batches_bound_texts_and_padded_tokens_and_keep_every_index_once():
    from ml.encoders.runtime import token_batches

    lengths = [3, 40, 4, 41, 5, 200, 6, 7]

    batches = token_batches(lengths, batch_size=3, max_tokens=80)

    assert sorted(index for batch in batches for index in batch) == list(range(len(lengths)))
    assert all(len(batch) <= 3 for batch in batches)
    # Every batch fits the budget except the one text too long for it on its own.
    assert all(max(lengths[i] for i in batch) * len(batch) <= 80 for batch in batches if batch != [5])
    assert batches == [[0, 2, 4], [6, 7], [1], [3], [5]]


def test_encode_matches_sentence_transformers_in_input_order(spec):
    import numpy as np

    from ml.encoders.runtime import encode_counted

    model = load_encoder(spec, device="cpu")
    # Mixed lengths, so the length-sorted batches differ from the input order.
    texts = ["card?", "My card has not arrived and I ordered it three weeks ago, what now?", "hours", "pin"] * 5

    vectors, forwards = encode_counted(model, texts, device="cpu", batch_size=4)

    expected = model.encode(texts, convert_to_numpy=True)
    assert vectors.shape == (20, 384)
    assert np.allclose(vectors.numpy(), expected, atol=1e-5)
    assert forwards >= 5  # at most 4 texts per forward
