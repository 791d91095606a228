"""Training jobs, their event feed, model versions, frozen holdouts, and the worker registry.

Nothing here knows how a model is trained: the technique lives in `ml/` and is named by
`task` and `strategy`, so the recommendations trainer can reuse the same job and version
machinery (DESIGN.md, "Training is a job").
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel, TenantModel


class Task(models.TextChoices):
    CLASSIFICATION = "classification", "Text classification"
    RETRIEVAL = "retrieval", "Retrieval (text pairs)"


class Strategy(models.TextChoices):
    AUTO = "auto", "Automatic"
    HEAD = "head", "Frozen encoder + linear head"
    LORA = "lora", "LoRA adapters + head"
    FULL = "full", "Full fine-tune"


# Which strategies each task accepts (retrieval fine-tunes the encoder itself).
TASK_STRATEGIES: dict[str, tuple[str, ...]] = {
    Task.CLASSIFICATION: (Strategy.AUTO, Strategy.HEAD, Strategy.LORA, Strategy.FULL),
    Task.RETRIEVAL: (Strategy.AUTO, Strategy.LORA, Strategy.FULL),
}


class JobStatus(models.TextChoices):
    VALIDATING = "validating", "Validating"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class TrainingJob(TenantModel):
    """One fine-tuning run: validating → queued → running → succeeded | failed | cancelled."""

    task = models.CharField(max_length=32, choices=Task.choices)
    # The model this job trains a new version of ("support-intent", "sentiment", ...).
    model_name = models.SlugField(max_length=64)
    dataset_version = models.ForeignKey("datasets.DatasetVersion", on_delete=models.PROTECT, related_name="+")
    validation_dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    base_model = models.CharField(max_length=200)
    base_model_sha256 = models.CharField(max_length=64)
    strategy = models.CharField(max_length=8, choices=Strategy.choices, default=Strategy.AUTO)
    resolved_strategy = models.CharField(max_length=8, choices=Strategy.choices, blank=True)
    # As sent ({"epochs": "auto", ...}) and as the trainer resolved them.
    hyperparameters = models.JSONField(default=dict)
    resolved_hyperparameters = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.VALIDATING)
    queue = models.CharField(max_length=32, blank=True)
    device = models.CharField(max_length=16, blank=True)
    progress = models.FloatField(default=0.0)
    eta_seconds = models.PositiveIntegerField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    # One entry per epoch: {"epoch": 1, "train_loss": ..., "val_loss": ..., "val_accuracy": ...}
    history = models.JSONField(default=list, blank=True)
    error = models.JSONField(null=True, blank=True)  # {"code": ..., "message": ...}

    # Each dispatch to a worker is one attempt; a message for an older attempt is ignored.
    attempt = models.PositiveSmallIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)

    # Training time for metering, per device kind, summed over attempts.
    cpu_seconds = models.FloatField(default=0.0)
    gpu_seconds = models.FloatField(default=0.0)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_via = models.CharField(max_length=16, default="api")

    class Meta:
        indexes = [
            models.Index(fields=["organization", "created_at"], name="training_job_org_created"),
            models.Index(fields=["organization", "status", "created_at"], name="training_job_org_status"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} job {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def total_training_seconds(self) -> float:
        return self.cpu_seconds + self.gpu_seconds


class EventLevel(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class TrainingJobEvent(TenantModel):
    """The job's feed (info/warning/error messages and per-epoch metrics). Append-only."""

    append_only = True

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="events")
    level = models.CharField(max_length=8, choices=EventLevel.choices, default=EventLevel.INFO)
    kind = models.CharField(max_length=16, default="message")  # message | metrics | status
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "job", "created_at"], name="training_event_org_job")]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"


class ModelVersion(TenantModel):
    """The immutable result of one successful job. At most one version per model is active."""

    name = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    task = models.CharField(max_length=32, choices=Task.choices)
    # One version per job, enforced by the database: a job retried after a crash cannot
    # leave two versions behind.
    job = models.OneToOneField(TrainingJob, on_delete=models.PROTECT, related_name="model_version")
    strategy = models.CharField(max_length=8, choices=Strategy.choices)
    base_model = models.CharField(max_length=200)
    base_model_sha256 = models.CharField(max_length=64)
    labels = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    holdout_metrics = models.JSONField(default=dict, blank=True)
    suggested_threshold = models.FloatField(null=True, blank=True)
    artifact_key = models.CharField(max_length=300)
    artifact_size_bytes = models.PositiveBigIntegerField(default=0)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    # Why the version was or was not activated automatically, in words.
    promotion_note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name", "version"], name="model_version_unique_number"),
            models.UniqueConstraint(
                fields=["organization", "name"], condition=models.Q(is_active=True), name="model_version_one_active"
            ),
        ]
        indexes = [models.Index(fields=["organization", "name", "created_at"], name="model_version_org_name")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def primary_metric(self) -> str:
        return PRIMARY_METRIC[self.task]


# What "beats the active version" means per task, on the frozen holdout.
PRIMARY_METRIC: dict[str, str] = {Task.CLASSIFICATION: "accuracy", Task.RETRIEVAL: "mrr"}


class Holdout(TenantModel):
    """A model's frozen evaluation set, taken from its first dataset and never trained on."""

    name = models.SlugField(max_length=64)
    task = models.CharField(max_length=32, choices=Task.choices)
    examples = models.JSONField(default=list)
    source_dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="holdout_unique_per_model")]

    def __str__(self) -> str:
        return f"holdout for {self.name} ({len(self.examples)} examples)"


class TrainingWorker(BaseModel):
    """A live Celery worker that consumes a training queue (platform-wide, not a tenant row).

    Workers register on start and refresh `last_seen_at`; routing to `training.gpu` needs
    a GPU worker seen recently.
    """

    hostname = models.CharField(max_length=200, unique=True)
    queues = models.JSONField(default=list)
    device = models.CharField(max_length=16)  # cpu | cuda
    device_name = models.CharField(max_length=200, blank=True)
    last_seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} ({self.device})"
