import numpy as np
import pytest

from apps.sentiment import scoring
from apps.sentiment.models import Monitor
from ml.classification.zero_shot import OTHER, Topic, score_topics, zero_shot_topics
from tests.apps.sentiment.conftest import TOPICS, ingest

pytestmark = pytest.mark.django_db


def _monitor(org_id=1):
    return Monitor(organization_id=org_id, name="m", topics=TOPICS)


def test_zero_shot_picks_the_closest_topic_and_other_below_the_floor():
    vectors = np.array([[1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    topics = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

    scores = score_topics(vectors, topics, ["a", "b"], temperature=0.1, floor=0.5)

    assert [score.topic for score in scores] == ["a", "b", OTHER]
    assert scores[0].probabilities["a"] > 0.99
    assert scores[2].probabilities == {"a": 0.5, "b": 0.5}


def test_zero_shot_refuses_a_zero_temperature():
    with pytest.raises(ValueError, match="temperature"):
        score_topics(np.eye(2), np.eye(2), ["a", "b"], temperature=0)


def test_zero_shot_embeds_texts_and_topic_prompts_in_one_call():
    calls = []

    def embed(texts):
        calls.append(texts)
        return np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])

    scores = zero_shot_topics(["x"], [Topic("a", "about a"), Topic("b")], embed)

    assert calls == [["x", "a: about a", "b"]]
    assert scores[0].topic == "a"


def test_starter_model_scores_obvious_sentiments():
    texts = [
        "The bank collapsed amid fraud charges",
        "Profits soared to a record and the dividend was raised",
        "The branch opens at nine on Monday",
        "Worst customer service ever, I am closing my account",
    ]

    scores, scored_by = scoring.sentiment_predict(monitor=_monitor(), texts=texts)

    assert scored_by == "starter"
    assert [score.label for score in scores] == ["negative", "positive", "neutral", "negative"]
    assert all(abs(sum(score.probabilities.values()) - 1) < 1e-4 for score in scores)
    assert set(scores[0].probabilities) == {"negative", "neutral", "positive"}


def test_starter_model_is_trained_once_and_reused(starter_cache):
    first = scoring.starter_model_directory()
    stamp = (first / "manifest.json").stat().st_mtime_ns

    second = scoring.starter_model_directory()

    assert second == first
    assert first.parent == starter_cache / "starter-sentiment"
    assert (second / "manifest.json").stat().st_mtime_ns == stamp
    assert [p.name for p in first.parent.iterdir() if p.name.startswith(".")] == []


def test_zero_shot_topics_of_obvious_texts():
    texts = [
        "Thieves cloned my debit card and emptied my account",
        "Shares jumped after quarterly earnings beat estimates",
        "The mobile app crashes every time I log in",
        "I had a lovely lunch with my grandmother",
    ]

    scores, scored_by = scoring.topic_predict(monitor=_monitor(), texts=texts)

    assert scored_by == "zero-shot"
    assert [score.label for score in scores] == ["fraud", "earnings", "app", "other"]
    assert set(scores[0].probabilities) == {"fraud", "fees", "app", "earnings"}


def test_ingest_scores_with_the_real_models(org, in_org, monitor, enqueued):
    result = ingest(org, monitor, [{"text": "Thieves cloned my debit card and emptied my account"}])

    document = result.documents[0]
    assert (document.status, document.sentiment, document.topic) == ("scored", "negative", "fraud")
    assert (document.sentiment_scored_by, document.topic_scored_by) == ("starter", "zero-shot")
    assert document.scored_at is not None


def _tenant_sentiment_version(org, in_org, labels):
    """A version of `acme-sentiment` whose artifact is a copy of the starter head."""
    import shutil

    from apps.core.storage import artifact_storage
    from tests.factories.datasets import make_dataset_version
    from tests.factories.training import make_job, make_version_row

    job = make_job(org, make_dataset_version(org), model_name="acme-sentiment")
    version = make_version_row(org, job)
    with in_org(org):
        version.labels = labels
        version.save(update_fields=["labels"])
    target = artifact_storage().path(org.id, version.artifact_key)
    shutil.copytree(scoring.starter_model_directory(), target)
    return version


def test_an_active_tenant_sentiment_model_is_used_without_api_prediction_usage(org, in_org, monitor, enqueued):
    from apps.metering.models import UsageEvent

    _tenant_sentiment_version(org, in_org, ["negative", "neutral", "positive"])
    with in_org(org):
        monitor.sentiment_model_name = "acme-sentiment"
        monitor.save()

    result = ingest(org, monitor, [{"text": "The bank collapsed amid fraud charges"}])

    document = result.documents[0]
    assert (document.sentiment, document.sentiment_scored_by) == ("negative", "acme-sentiment v1")
    with in_org(org):
        meters = sorted(UsageEvent.objects.for_org(org).exclude(meter="storage_mb").values_list("meter", flat=True))
    assert meters == ["documents_processed"]  # storage_mb is the dataset upload's gauge


def test_a_tenant_model_without_the_three_sentiments_falls_back_to_the_starter(org, in_org, monitor):
    _tenant_sentiment_version(org, in_org, ["card_lost", "opening_hours"])
    with in_org(org):
        monitor.sentiment_model_name = "acme-sentiment"
        scores, scored_by = scoring.sentiment_predict(monitor=monitor, texts=["Fees went up again"])

    assert scored_by == "starter"
