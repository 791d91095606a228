import pytest

from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.sentiment import scoring, services

TOPICS = [
    {"name": "fraud", "description": "scams, stolen or cloned cards, phishing, identity theft"},
    {"name": "fees", "description": "charges, prices, interest rates and fees"},
    {"name": "app", "description": "mobile app, website and online banking outages and bugs"},
    {"name": "earnings", "description": "quarterly results, profits, revenue, share price"},
]


@pytest.fixture(scope="session")
def starter_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("sentiment-cache")


@pytest.fixture(autouse=True)
def _shared_starter_cache(_artifact_root, settings, starter_cache):
    """The starter model trains once per test session, not once per test."""
    settings.ARTIFACT_CACHE_DIR = starter_cache


@pytest.fixture
def monitor(org, in_org):
    with in_org(org):
        return services.monitor_create(organization=org, actor=Actor.system(), name="Acme news", topics=TOPICS)


@pytest.fixture
def other_monitor(other_org, in_org):
    with in_org(other_org):
        return services.monitor_create(organization=other_org, actor=Actor.system(), name="Lear news", topics=TOPICS)


def _fake_sentiment(*, monitor, texts):
    def label(text):
        lowered = text.lower()
        return "negative" if "bad" in lowered else "positive" if "good" in lowered else "neutral"

    labels = [label(text) for text in texts]
    return [
        scoring.Score(value, 0.9, {s: (0.9 if s == value else 0.05) for s in ("negative", "neutral", "positive")})
        for value in labels
    ], "fake"


def _fake_topic(*, monitor, texts):
    scores = []
    for text in texts:
        topic = next((name for name in monitor.topic_names if name in text.lower()), "other")
        scores.append(scoring.Score(topic, 0.8, {name: 0.8 if name == topic else 0.0 for name in monitor.topic_names}))
    return scores, "fake"


@pytest.fixture
def fake_models(monkeypatch):
    """Keyword models: 'bad' -> negative, 'good' -> positive, else neutral; the topic named in the text."""
    monkeypatch.setattr(scoring, "sentiment_predict", _fake_sentiment)
    monkeypatch.setattr(scoring, "topic_predict", _fake_topic)


@pytest.fixture
def enqueued(monkeypatch):
    """Task messages published on commit, as (task name, args), instead of reaching the broker."""
    from apps.sentiment import tasks

    sent = []
    for task in (tasks.monitor_documents_score, tasks.monitor_spike_check, tasks.monitor_documents_deferred_score):
        monkeypatch.setattr(task, "delay", lambda *args, _name=task.name: sent.append((_name.rsplit(".", 1)[1], args)))
    return sent


def ingest(org, monitor, rows):
    with tenant_context(org.id):
        return services.documents_ingest(organization=org, monitor=monitor, actor=Actor.system(), rows=rows)
