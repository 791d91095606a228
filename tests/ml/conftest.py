import pytest

from ml.classification import ClassificationConfig, train_classifier
from ml.encoders import load_encoder, resolve_base_model
from ml.progress import TrainingCallbacks
from tests.ml.data import TRAIN

# Small but real fine-tunes: 32 rows, a few epochs, batch 8 -> a few seconds each on 2 CPU cores.
FAST = {"head": {"epochs": 30}, "lora": {"epochs": 4, "batch_size": 8}, "full": {"epochs": 3, "batch_size": 8}}


class Recorder(TrainingCallbacks):
    def __init__(self, stop_after_batches=None):
        self.events, self.progress, self.checks = [], [], 0
        self.stop_after_batches = stop_after_batches

    def on_event(self, event):
        self.events.append(event)

    def on_progress(self, fraction, eta_seconds):
        self.progress.append((fraction, eta_seconds))

    def should_stop(self):
        self.checks += 1
        return self.stop_after_batches is not None and self.checks > self.stop_after_batches


@pytest.fixture(scope="session")
def spec():
    return resolve_base_model()


@pytest.fixture(scope="session")
def encoder(spec):
    return load_encoder(spec, device="cpu")


@pytest.fixture(scope="session")
def trained(spec, tmp_path_factory):
    """One trained classifier per strategy, shared by the tests that only read artifacts."""
    results = {}

    def get(strategy):
        if strategy not in results:
            output = tmp_path_factory.mktemp(strategy) / "model"
            config = ClassificationConfig(strategy=strategy, device="cpu", **FAST[strategy])
            recorder = Recorder()
            result = train_classifier(
                train=TRAIN, validation=None, base_model=spec, config=config, output_dir=output, callbacks=recorder
            )
            results[strategy] = (result, recorder)
        return results[strategy]

    return get
