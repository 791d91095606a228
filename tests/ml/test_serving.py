import threading
import time

import numpy as np
import pytest

from ml.classification import Classifier
from ml.serving import ModelServer, Prediction
from tests.ml.data import TEST

TEXTS = [row.text for row in TEST]


@pytest.fixture
def server(spec):
    with ModelServer(spec, memory_budget_bytes=256 << 20, device="cpu", max_wait_ms=20.0) as server:
        yield server


def test_head_and_lora_models_are_served_like_the_classifier(server, trained, spec, encoder):
    for strategy in ("head", "lora"):
        result, _ = trained(strategy)
        expected = Classifier.load(result.artifact_dir, spec, device="cpu", encoder=encoder).predict(TEXTS)

        served = server.predict(key=f"org/1/{strategy}", artifact_dir=result.artifact_dir, texts=TEXTS)

        assert all(isinstance(p, Prediction) for p in served)
        assert [p.label for p in served] == [p.label for p in expected]
        assert [p.confidence for p in served] == pytest.approx([p.confidence for p in expected], abs=1e-4)
    assert server.stats()["resident"] == 2


def test_full_models_bring_their_own_encoder(server, trained, spec):
    result, _ = trained("full")
    expected = Classifier.load(result.artifact_dir, spec, device="cpu").predict(TEXTS)

    served = server.predict(key="org/3/full", artifact_dir=result.artifact_dir, texts=TEXTS)

    assert [p.label for p in served] == [p.label for p in expected]
    assert server.stats()["resident_bytes"] > 80_000_000  # MiniLM's own weights count against the budget


def test_lru_evicts_the_least_recently_used_model_within_budget(spec, trained):
    result, _ = trained("head")
    head_bytes = 4 * 384 * 4 + 4 * 4
    with ModelServer(spec, memory_budget_bytes=2 * head_bytes, device="cpu") as server:
        server.predict(key="a", artifact_dir=result.artifact_dir, texts=TEXTS[:1])
        server.predict(key="b", artifact_dir=result.artifact_dir, texts=TEXTS[:1])
        server.predict(key="a", artifact_dir=result.artifact_dir, texts=TEXTS[:1])
        server.predict(key="c", artifact_dir=result.artifact_dir, texts=TEXTS[:1])
        server.predict(key="a", artifact_dir=result.artifact_dir, texts=TEXTS[:1])

        stats = server.stats()

    assert stats["resident"] == 2
    assert stats["resident_bytes"] == 2 * head_bytes <= stats["budget_bytes"]
    assert stats["evictions"] == 1  # "b" went; "a" stayed because it was used again
    assert (stats["hits"], stats["misses"]) == (2, 3)


def test_evict_forgets_a_key(server, trained):
    result, _ = trained("head")
    server.predict(key="a", artifact_dir=result.artifact_dir, texts=TEXTS[:1])

    server.evict("a")

    assert server.stats()["resident"] == 0


def test_concurrent_requests_get_their_own_models_answers_and_share_forwards(spec, trained, encoder):
    head, _ = trained("head")
    lora, _ = trained("lora")
    expected = {
        key: [p.label for p in Classifier.load(path, spec, device="cpu", encoder=encoder).predict(TEXTS)]
        for key, path in (("head", head.artifact_dir), ("lora", lora.artifact_dir))
    }
    paths = {"head": head.artifact_dir, "lora": lora.artifact_dir}
    errors, barrier = [], threading.Barrier(12)
    with ModelServer(spec, memory_budget_bytes=64 << 20, device="cpu", max_wait_ms=50.0) as server:
        for key, path in paths.items():  # warm the cache so the threads only predict
            server.predict(key=key, artifact_dir=path, texts=TEXTS[:1])
        before = server.stats()

        def client(index):
            key = ("head", "lora")[index % 2]
            text_index = index % len(TEXTS)
            barrier.wait()
            got = server.predict(key=key, artifact_dir=paths[key], texts=[TEXTS[text_index]])
            if got[0].label != expected[key][text_index]:
                errors.append((key, text_index, got[0].label))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = server.stats()

    assert errors == []
    assert after["requests"] - before["requests"] == 12
    assert after["forwards"] - before["forwards"] < 12  # merged: at most one forward per key and round


def test_heads_of_different_tenants_share_one_forward(spec, trained):
    head, _ = trained("head")
    barrier = threading.Barrier(8)
    with ModelServer(spec, memory_budget_bytes=64 << 20, device="cpu", max_wait_ms=200.0) as server:
        for tenant in range(8):
            server.predict(key=f"org/{tenant}", artifact_dir=head.artifact_dir, texts=TEXTS[:1])
        before = server.stats()

        def client(tenant):
            barrier.wait()
            server.predict(key=f"org/{tenant}", artifact_dir=head.artifact_dir, texts=TEXTS[:2])

        threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = server.stats()

    assert after["requests"] - before["requests"] == 8
    assert after["forwards"] - before["forwards"] <= 2


def test_single_text_latency_is_low(spec, trained):
    head, _ = trained("head")
    with ModelServer(spec, memory_budget_bytes=64 << 20, device="cpu") as server:
        server.predict(key="k", artifact_dir=head.artifact_dir, texts=TEXTS[:1])
        timings = []
        for text in TEXTS:
            started = time.perf_counter()
            server.predict(key="k", artifact_dir=head.artifact_dir, texts=[text])
            timings.append(time.perf_counter() - started)

    assert sorted(timings)[len(timings) // 2] < 0.25  # generous: the CI machine is shared; benchmarks measure p50


def test_embed_gives_the_base_encoders_vectors_even_after_an_adapter_served(server, trained, encoder):
    from ml.encoders.runtime import encode

    result, _ = trained("lora")
    expected = encode(encoder, TEXTS, device="cpu").numpy()
    served = threading.Thread(
        target=server.predict, kwargs={"key": "org/4/lora", "artifact_dir": result.artifact_dir, "texts": TEXTS * 20}
    )

    served.start()
    vectors = server.embed(TEXTS)  # while (or just after) the adapter serves on the server thread
    served.join()

    assert vectors.shape == expected.shape
    assert np.allclose(vectors, expected, atol=1e-5)
