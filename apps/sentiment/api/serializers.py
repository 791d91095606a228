from rest_framework import serializers

from apps.sentiment.models import DocumentStatus, Granularity, Sentiment


class TopicSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class MonitorUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    topics = TopicSerializer(many=True, required=False, help_text="1 to 30 topics with unique names.")
    sentiment_model_name = serializers.SlugField(
        max_length=64, required=False, allow_blank=True, help_text="A model whose active version scores sentiment."
    )
    topic_model_name = serializers.SlugField(
        max_length=64, required=False, allow_blank=True, help_text="A model whose active version picks the topic."
    )
    is_active = serializers.BooleanField(required=False)
    retrain_after_corrections = serializers.IntegerField(
        min_value=0,
        max_value=100_000,
        required=False,
        help_text="Retrain a field's model after this many corrections of it; 0 (the default) turns it off.",
    )
    alert_min_volume = serializers.IntegerField(min_value=1, required=False)
    alert_sensitivity = serializers.FloatField(min_value=0.5, max_value=20, required=False)
    alert_cooldown_hours = serializers.IntegerField(min_value=0, max_value=24 * 30, required=False)
    alert_baseline_days = serializers.IntegerField(min_value=1, max_value=90, required=False)


class MonitorCreateInput(MonitorUpdateInput):
    name = serializers.CharField(max_length=100)
    topics = TopicSerializer(many=True, help_text="1 to 30 topics with unique names.")


class MonitorOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    topics = TopicSerializer(many=True)
    sentiment_model_name = serializers.CharField()
    topic_model_name = serializers.CharField()
    is_active = serializers.BooleanField()
    retrain_after_corrections = serializers.IntegerField()
    alert_min_volume = serializers.IntegerField()
    alert_sensitivity = serializers.FloatField()
    alert_cooldown_hours = serializers.IntegerField()
    alert_baseline_days = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RescoreRunOutput(serializers.Serializer):
    id = serializers.UUIDField()
    field = serializers.CharField()
    version_label = serializers.CharField(help_text="What re-scores: `<model name> v<version>`, starter or zero-shot.")
    status = serializers.CharField(help_text="running, succeeded or failed.")
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    progress = serializers.FloatField(help_text="done / total, from 0 to 1.")
    since = serializers.DateTimeField(help_text="Documents published from here on are re-scored.")
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField()


class RescoreOutput(serializers.Serializer):
    sentiment = RescoreRunOutput(allow_null=True)
    topic = RescoreRunOutput(allow_null=True)


class MonitorDetailOutput(MonitorOutput):
    document_counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Documents per status: the scoring progress."
    )
    corrections_since_retrain = serializers.DictField(
        child=serializers.IntegerField(), help_text="Corrections per field counted towards the automatic retrain."
    )
    rescore = RescoreOutput(help_text="The latest re-score run per field, after a new model version became active.")


class MonitorRetrainInput(serializers.Serializer):
    field = serializers.ChoiceField(choices=["sentiment", "topic"])


class MonitorRetrainOutput(serializers.Serializer):
    training_job_id = serializers.UUIDField(source="id")
    model_name = serializers.CharField()
    dataset_version_id = serializers.UUIDField()
    status = serializers.CharField()


class DocumentInput(serializers.Serializer):
    """Documented shape of one row; rows are validated one by one (bad rows do not refuse the batch)."""

    text = serializers.CharField()
    source = serializers.CharField(required=False)
    url = serializers.URLField(required=False)
    author = serializers.CharField(required=False)
    published_at = serializers.DateTimeField(required=False, help_text="ISO 8601; default now; at most 1 day ahead.")
    language = serializers.CharField(required=False)
    external_id = serializers.CharField(required=False, help_text="Idempotency: the same id is stored once.")
    metadata = serializers.DictField(required=False)


class DocumentsIngestInput(serializers.Serializer):
    documents = serializers.ListField(child=serializers.JSONField(), min_length=1, max_length=1000)


class RowErrorOutput(serializers.Serializer):
    index = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class DocumentOutput(serializers.Serializer):
    id = serializers.UUIDField()
    monitor_id = serializers.UUIDField()
    external_id = serializers.CharField()
    text = serializers.CharField()
    source = serializers.CharField()
    url = serializers.CharField()
    author = serializers.CharField()
    published_at = serializers.DateTimeField()
    language = serializers.CharField()
    metadata = serializers.DictField()
    status = serializers.ChoiceField(choices=DocumentStatus.values)
    sentiment = serializers.CharField(help_text="negative, neutral or positive; empty until scored.")
    sentiment_confidence = serializers.FloatField(allow_null=True)
    sentiment_probabilities = serializers.DictField(child=serializers.FloatField())
    topic = serializers.CharField(help_text="One of the monitor's topics, or `other`; empty until scored.")
    topic_probabilities = serializers.DictField(child=serializers.FloatField())
    sentiment_scored_by = serializers.CharField()
    topic_scored_by = serializers.CharField()
    scored_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class IngestOutput(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Rows whose external_id was already stored (not re-created).")
    rejected = serializers.IntegerField()
    deferred = serializers.IntegerField(help_text="Stored but over the plan's allowance: scored when it allows.")
    scored = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Stored and queued for scoring on the inference queue.")
    errors = RowErrorOutput(many=True)
    deferral = serializers.DictField(
        allow_null=True, help_text="Why documents were deferred: code, message, meter, limit, used, resets_at."
    )
    documents = DocumentOutput(many=True)


class DocumentFilter(serializers.Serializer):
    topic = serializers.CharField(required=False)
    sentiment = serializers.ChoiceField(choices=Sentiment.values, required=False)
    status = serializers.ChoiceField(choices=DocumentStatus.values, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    q = serializers.CharField(required=False, max_length=200)


class CorrectionInput(serializers.Serializer):
    field = serializers.ChoiceField(choices=["sentiment", "topic"])
    value = serializers.CharField(max_length=100)


class CorrectionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    document_id = serializers.UUIDField()
    field = serializers.CharField()
    previous_value = serializers.CharField()
    value = serializers.CharField()
    corrected_by_label = serializers.CharField()
    created_at = serializers.DateTimeField()


class TrendQuery(serializers.Serializer):
    granularity = serializers.ChoiceField(choices=Granularity.values, default=Granularity.HOUR)
    since = serializers.DateTimeField(required=False, help_text="Default: 7 days before `until`.")
    until = serializers.DateTimeField(required=False, help_text="Default: now.")
    topic = serializers.CharField(required=False)
    sentiment = serializers.ChoiceField(choices=Sentiment.values, required=False)


class TrendPointOutput(serializers.Serializer):
    bucket_start = serializers.DateTimeField()
    topic = serializers.CharField()
    sentiment = serializers.CharField()
    count = serializers.IntegerField()


class TrendTotalOutput(serializers.Serializer):
    bucket_start = serializers.DateTimeField()
    total = serializers.IntegerField()
    negative = serializers.IntegerField()
    neutral = serializers.IntegerField()
    positive = serializers.IntegerField()
    negative_share = serializers.FloatField()


class TrendOutput(serializers.Serializer):
    granularity = serializers.CharField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    series = TrendPointOutput(many=True)
    totals = TrendTotalOutput(many=True)


class DocumentsIngestRequest(serializers.Serializer):
    """The documented request body (rows are checked one by one by the service)."""

    documents = DocumentInput(many=True, help_text="1 to 1,000 documents.")


class DocumentsUploadInput(serializers.Serializer):
    file = serializers.FileField(
        help_text="A .csv, .tsv or .jsonl file (UTF-8, a byte-order mark is fine). Columns: `text` (required), "
        "optional `external_id`, `source`, `url`, `author`, `published_at`, `language`; others are ignored."
    )


class UploadRowErrorOutput(serializers.Serializer):
    row = serializers.IntegerField(help_text="The row as a spreadsheet numbers it (header = 1), or the JSON line.")
    field = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class UploadWarningOutput(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    column = serializers.CharField(allow_null=True)


class UploadOutput(serializers.Serializer):
    file_format = serializers.CharField(help_text="csv, tsv or jsonl.")
    has_bom = serializers.BooleanField()
    rows = serializers.IntegerField(help_text="Data rows (CSV, TSV) or non-empty lines (JSON lines) in the file.")
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Rows whose external_id was already stored (not re-created).")
    rejected = serializers.IntegerField(help_text="Rows not stored; `errors` says why, by row number.")
    deferred = serializers.IntegerField(help_text="Stored but over the plan's allowance: scored when it allows.")
    scored = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Stored and queued for scoring on the inference queue.")
    errors = UploadRowErrorOutput(many=True, help_text="The rejected rows' problems (the first 1,000).")
    warnings = UploadWarningOutput(many=True, help_text="Accepted anyway, e.g. unknown columns that were ignored.")
    deferral = serializers.DictField(
        allow_null=True, help_text="Why documents were deferred: code, message, meter, limit, used, resets_at."
    )
