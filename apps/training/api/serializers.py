from django.conf import settings
from rest_framework import serializers

from apps.training.models import EventLevel, JobStatus, Strategy, Task


class HyperparametersInput(serializers.Serializer):
    """Each value is a number or "auto" (the trainer chooses and reports its choice)."""

    epochs = serializers.JSONField(required=False, help_text='1-100 or "auto".')
    learning_rate = serializers.JSONField(required=False, help_text='A positive number or "auto".')
    batch_size = serializers.JSONField(required=False, help_text='1-512 or "auto".')
    lora_rank = serializers.JSONField(required=False, help_text='LoRA only: 1-256 or "auto".')
    max_seq_length = serializers.JSONField(required=False, help_text='8-512 or "auto".')
    seed = serializers.JSONField(required=False, help_text='An integer or "auto" (42).')
    target_precision = serializers.JSONField(
        required=False, help_text='Precision the suggested confidence threshold aims for (0.5-0.999) or "auto" (0.9).'
    )


class TrainingJobCreateInput(serializers.Serializer):
    task = serializers.ChoiceField(choices=Task.choices)
    dataset = serializers.UUIDField(help_text="Dataset id; its latest version unless dataset_version is given.")
    dataset_version = serializers.IntegerField(required=False, min_value=1)
    validation_dataset = serializers.UUIDField(
        required=False, allow_null=True, help_text="Optional; else a stratified split of the training data."
    )
    validation_dataset_version = serializers.IntegerField(required=False, min_value=1)
    model_name = serializers.SlugField(
        required=False, max_length=64, help_text="The model this job adds a version to; defaults to the task name."
    )
    base_model = serializers.CharField(required=False, max_length=200, help_text="Default: all-MiniLM-L6-v2.")
    strategy = serializers.ChoiceField(choices=Strategy.choices, default=Strategy.AUTO)
    hyperparameters = serializers.DictField(required=False, default=dict)


class TrainingJobListFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    model_name = serializers.SlugField(required=False)


class DatasetRefOutput(serializers.Serializer):
    id = serializers.UUIDField(source="dataset.id")
    name = serializers.CharField(source="dataset.name")
    version = serializers.IntegerField()


class TrainingErrorOutput(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class TrainingJobOutput(serializers.Serializer):
    id = serializers.UUIDField()
    object = serializers.SerializerMethodField()
    task = serializers.ChoiceField(choices=Task.choices)
    model_name = serializers.CharField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    dataset = DatasetRefOutput(source="dataset_version")
    validation_dataset = DatasetRefOutput(source="validation_dataset_version", allow_null=True)
    base_model = serializers.CharField()
    strategy = serializers.ChoiceField(choices=Strategy.choices)
    resolved_strategy = serializers.CharField(allow_blank=True)
    hyperparameters = serializers.DictField()
    resolved_hyperparameters = serializers.DictField()
    queue = serializers.CharField(allow_blank=True)
    device = serializers.CharField(allow_blank=True)
    progress = serializers.FloatField(help_text="0 to 1.")
    eta_seconds = serializers.IntegerField(allow_null=True)
    metrics = serializers.DictField()
    history = serializers.ListField(child=serializers.DictField(), help_text="Metrics per epoch.")
    error = TrainingErrorOutput(allow_null=True)
    attempt = serializers.IntegerField()
    model_version_id = serializers.SerializerMethodField()
    training_seconds = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    cancel_requested_at = serializers.DateTimeField(allow_null=True)

    def get_object(self, job) -> str:
        return "training_job"

    def get_model_version_id(self, job) -> str | None:
        version = getattr(job, "model_version", None) if job.status == JobStatus.SUCCEEDED else None
        return str(version.id) if version else None

    def get_training_seconds(self, job) -> dict[str, float]:
        return {"cpu": round(job.cpu_seconds, 3), "gpu": round(job.gpu_seconds, 3)}


class TrainingJobEventOutput(serializers.Serializer):
    id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    level = serializers.ChoiceField(choices=EventLevel.choices)
    kind = serializers.CharField()
    message = serializers.CharField()
    data = serializers.DictField()


class TrainingJobEventFilter(serializers.Serializer):
    level = serializers.ChoiceField(choices=EventLevel.choices, required=False)


class ModelVersionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    object = serializers.SerializerMethodField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    task = serializers.ChoiceField(choices=Task.choices)
    training_job_id = serializers.UUIDField(source="job_id")
    strategy = serializers.CharField()
    base_model = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    metrics = serializers.DictField(help_text="Validation metrics from training.")
    holdout_metrics = serializers.DictField(help_text="Metrics on the model's frozen holdout (the promotion gate).")
    suggested_threshold = serializers.FloatField(allow_null=True)
    artifact_size_bytes = serializers.IntegerField()
    is_active = serializers.BooleanField()
    activated_at = serializers.DateTimeField(allow_null=True)
    promotion_note = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_object(self, version) -> str:
        return "model_version"


class ModelVersionListFilter(serializers.Serializer):
    name = serializers.SlugField(required=False)
    task = serializers.ChoiceField(choices=Task.choices, required=False)


class ModelVersionPromoteInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class ModelRollbackInput(serializers.Serializer):
    name = serializers.SlugField(help_text="The model whose previous active version comes back.")


def _texts_field():
    return serializers.ListField(
        child=serializers.CharField(
            max_length=settings.DATASET_MAX_TEXT_CHARS * 5, allow_blank=False, trim_whitespace=False
        ),
        allow_empty=False,
        max_length=settings.PREDICT_MAX_TEXTS,
        help_text=f"1 to {settings.PREDICT_MAX_TEXTS} texts.",
    )


class PredictInput(serializers.Serializer):
    texts = _texts_field()


class ActivePredictInput(serializers.Serializer):
    model = serializers.SlugField(help_text="Model name; its active version answers.")
    texts = _texts_field()


class PredictionOutput(serializers.Serializer):
    label = serializers.CharField()
    confidence = serializers.FloatField(help_text="Calibrated probability of the label.")
    probabilities = serializers.DictField(child=serializers.FloatField())
    is_unsure = serializers.BooleanField(help_text="Confidence is below the version's suggested threshold.")


class PredictOutput(serializers.Serializer):
    model_version = ModelVersionOutput()
    predictions = PredictionOutput(many=True)
