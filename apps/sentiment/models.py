"""Sentiment monitoring: monitors, their documents and scores, trend buckets, spike alerts.

A monitor watches one stream of texts (news, reviews, posts) for one organization. Each
document is scored for sentiment (negative / neutral / positive) and one of the monitor's
topics. Counts per monitor × topic × sentiment are kept in hourly and daily buckets as
documents are scored, so trends and spike detection never rescan documents.
"""

from __future__ import annotations

from django.db import models

from apps.core.models import TenantModel


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"
    POSITIVE = "positive", "Positive"


class Monitor(TenantModel):
    """What one organization watches: its topics, its models and its alert settings."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    # [{"name": "fraud", "description": "scams, stolen cards, phishing"}, ...]: 1 to 30 topics.
    topics = models.JSONField(default=list)
    # Training-platform model names whose active version scores this monitor; with no
    # active version, the starter sentiment model and zero-shot topics are used.
    sentiment_model_name = models.SlugField(max_length=64, blank=True)
    topic_model_name = models.SlugField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)
    # Retrain from corrections (apps/sentiment/retrain.py): after this many corrections of
    # one field since its last retrain, a job starts on its own; 0 turns it off.
    retrain_after_corrections = models.PositiveIntegerField(default=0)
    # Counted (under the monitor's row lock) only while retrain_after_corrections is on.
    sentiment_corrections_since_retrain = models.PositiveIntegerField(default=0)
    topic_corrections_since_retrain = models.PositiveIntegerField(default=0)
    # The model version whose scores this monitor's recent documents carry; blank means the
    # starter (sentiment) or zero-shot (topic). The re-score sweep compares it with the
    # active version and re-scores when they differ.
    sentiment_version_id = models.CharField(max_length=36, blank=True)
    topic_version_id = models.CharField(max_length=36, blank=True)

    # Spike alerts (docs/sentiment.md explains the test and its false-alarm rate).
    alert_min_volume = models.PositiveIntegerField(default=5)
    alert_sensitivity = models.FloatField(default=3.0)  # z threshold: higher alerts less often
    alert_cooldown_hours = models.PositiveIntegerField(default=6)
    alert_baseline_days = models.PositiveIntegerField(default=7)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="monitor_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def topic_names(self) -> list[str]:
        return [topic["name"] for topic in self.topics]


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be scored"
    # Over the plan's documents allowance: kept, scored when the allowance allows (never dropped).
    DEFERRED = "deferred", "Deferred (over quota)"
    SCORED = "scored", "Scored"
    FAILED = "failed", "Failed"


class Document(TenantModel):
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="documents")
    # Idempotency: the same external id in the same monitor is the same document.
    external_id = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    source = models.CharField(max_length=100, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    author = models.CharField(max_length=200, blank=True)
    published_at = models.DateTimeField()
    language = models.CharField(max_length=16, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    sentiment = models.CharField(max_length=16, choices=Sentiment.choices, blank=True)
    sentiment_confidence = models.FloatField(null=True, blank=True)
    sentiment_probabilities = models.JSONField(default=dict, blank=True)
    topic = models.CharField(max_length=100, blank=True)
    topic_probabilities = models.JSONField(default=dict, blank=True)
    # "starter", "zero-shot" or "<model name> v<version>": what produced the scores.
    sentiment_scored_by = models.CharField(max_length=100, blank=True)
    topic_scored_by = models.CharField(max_length=100, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "monitor", "external_id"],
                condition=~models.Q(external_id=""),
                name="document_unique_external_id",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "monitor", "published_at"], name="document_org_monitor_time"),
            models.Index(fields=["organization", "monitor", "status"], name="document_org_monitor_status"),
        ]

    def __str__(self) -> str:
        return self.external_id or str(self.id)


class Correction(TenantModel):
    """A person's fix of a document's sentiment or topic; becomes labelled training data."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="corrections")
    field = models.CharField(max_length=16)  # "sentiment" | "topic"
    previous_value = models.CharField(max_length=100, blank=True)
    value = models.CharField(max_length=100)
    corrected_by_label = models.CharField(max_length=255)

    class Meta:
        indexes = [models.Index(fields=["organization", "document", "created_at"], name="correction_org_doc")]

    def __str__(self) -> str:
        return f"{self.field}: {self.previous_value} -> {self.value}"


class RescoreStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RescoreRun(TenantModel):
    """Re-scoring a monitor's recent documents after a new model version became active."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="rescore_runs")
    field = models.CharField(max_length=16)  # "sentiment" | "topic"
    # The version that re-scores (blank: starter / zero-shot) and its scored_by label.
    version_id = models.CharField(max_length=36, blank=True)
    version_label = models.CharField(max_length=100)
    since = models.DateTimeField()  # documents published from here on are re-scored
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=RescoreStatus.choices, default=RescoreStatus.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "monitor", "field"],
                condition=models.Q(status="running"),
                name="rescore_run_one_running",
            )
        ]
        indexes = [models.Index(fields=["organization", "monitor", "created_at"], name="rescore_run_org_monitor")]

    def __str__(self) -> str:
        return f"{self.field} -> {self.version_label}: {self.done}/{self.total}"

    @property
    def progress(self) -> float:
        return 1.0 if self.total == 0 else round(min(self.done, self.total) / self.total, 4)


class Granularity(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day"


class TrendBucket(TenantModel):
    """Documents of one monitor, topic and sentiment in one hour or day (UTC), by published time.

    Maintained by upserts as documents are scored (and moved on corrections), never
    recomputed per request.
    """

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="+")
    topic = models.CharField(max_length=100)
    sentiment = models.CharField(max_length=16, choices=Sentiment.choices)
    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    bucket_start = models.DateTimeField()
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "monitor", "topic", "sentiment", "granularity", "bucket_start"],
                name="trend_bucket_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["organization", "monitor", "granularity", "bucket_start"], name="trend_org_monitor_time"
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic}/{self.sentiment} {self.granularity} {self.bucket_start:%Y-%m-%d %H}: {self.count}"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class SpikeAlert(TenantModel):
    """A negative spike in one topic, with the evidence that explains it."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="alerts")
    topic = models.CharField(max_length=100)
    # The hour that spiked (UTC); one alert per monitor, topic and hour at most.
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    current_negative = models.PositiveIntegerField()
    current_total = models.PositiveIntegerField()
    baseline_negative_per_hour = models.FloatField()
    baseline_negative_share = models.FloatField()
    score = models.FloatField()  # the test statistic that crossed the threshold
    # [{"term": "card freeze", "current_rate": .., "baseline_rate": .., "score": ..}, ...]
    terms = models.JSONField(default=list)
    # [{"id": "...", "text": "...", "url": "...", "published_at": "..."}, ...]
    documents = models.JSONField(default=list)
    summary = models.TextField()
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    changed_by_label = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "monitor", "topic", "window_start"], name="spike_alert_once_per_window"
            )
        ]
        indexes = [models.Index(fields=["organization", "monitor", "created_at"], name="spike_alert_org_monitor")]
        ordering = ["-window_start"]

    def __str__(self) -> str:
        return f"{self.topic} spike at {self.window_start:%Y-%m-%d %H:00}"


class FeedSource(TenantModel):
    """An RSS or Atom feed polled on a schedule; its new items become documents of `monitor`.

    Each item's guid / id is the document's `external_id`, so a re-poll stores nothing twice.
    `etag` and `last_modified` come from the last successful fetch and are sent back as
    conditional headers (a 304 means no new items).
    """

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="feeds")
    url = models.URLField(max_length=2048)
    name = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    etag = models.CharField(max_length=500, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Polls in a row that failed; the scheduler waits longer after each (apps/sentiment/feeds.py).
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Documents this feed has added to the monitor (new items only, over all polls).
    items_seen = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "monitor", "url"], name="feed_source_unique_url")
        ]
        indexes = [models.Index(fields=["organization", "monitor", "created_at"], name="feed_source_org_monitor")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.name or self.url
