"""Training jobs (start, watch live, cancel) and model versions (promote, roll back, try)."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import ServiceError
from apps.dashboard.access import organization_view
from apps.dashboard.charts import line_chart
from apps.dashboard.views.common import get_or_404
from apps.datasets.selectors import dataset_list, dataset_version_get
from apps.training import selectors, services
from apps.training.models import TASK_STRATEGIES, JobStatus, Strategy, Task
from apps.training.serving import model_version_predict

JOBS_PAGE_SIZE = 25
EVENTS_SHOWN = 200


class TrainingJobForm(forms.Form):
    task = forms.ChoiceField(choices=Task.choices, initial=Task.CLASSIFICATION)
    dataset = forms.ChoiceField(label="Training dataset")
    validation_dataset = forms.ChoiceField(
        label="Validation dataset", required=False, help_text="Optional. Without one, a stratified split is used."
    )
    model_name = forms.SlugField(
        max_length=64,
        required=False,
        help_text="The model this job adds a version to, e.g. support-intent. Defaults to the task name.",
    )
    strategy = forms.ChoiceField(choices=Strategy.choices, initial=Strategy.AUTO)
    epochs = forms.IntegerField(min_value=1, max_value=100, required=False, help_text="Blank: automatic.")
    learning_rate = forms.FloatField(min_value=1e-7, max_value=1.0, required=False, help_text="Blank: automatic.")

    def __init__(self, *args, datasets=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(str(dataset.id), f"{dataset.name} ({dataset.get_kind_display()})") for dataset in datasets]
        self.fields["dataset"].choices = [("", "Choose a dataset")] + choices
        self.fields["validation_dataset"].choices = [("", "None: split the training data")] + choices

    def clean(self):
        cleaned = super().clean()
        task, strategy = cleaned.get("task"), cleaned.get("strategy")
        if task and strategy and strategy not in TASK_STRATEGIES[task]:
            self.add_error("strategy", f"{Strategy(strategy).label} does not apply to {Task(task).label.lower()}.")
        return cleaned


class PredictForm(forms.Form):
    texts = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=20000,
        help_text="One text per line, up to 20 lines.",
    )

    def clean_texts(self):
        lines = [line.strip() for line in self.cleaned_data["texts"].splitlines() if line.strip()]
        if not lines:
            raise forms.ValidationError("Enter at least one text.")
        if len(lines) > 20:
            raise forms.ValidationError(f"Enter at most 20 lines; you entered {len(lines)}.")
        return lines


def _datasets(request):
    return list(dataset_list(organization=request.organization))


def _render_jobs(request: HttpRequest, form: TrainingJobForm | None = None, status: int = 200) -> HttpResponse:
    datasets = _datasets(request)
    page = Paginator(selectors.training_job_list(organization=request.organization), JOBS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "section": "training",
        "form": form or TrainingJobForm(datasets=datasets),
        "datasets": datasets,
        "page": page,
        "jobs": list(page.object_list),
        "has_active": any(not job.is_terminal for job in page.object_list),
    }
    template = "dashboard/training/_job_rows.html" if request.htmx and request.method == "GET" else None
    return render(request, template or "dashboard/training/jobs.html", context, status=status)


@require_GET
@organization_view()
def training_jobs(request: HttpRequest) -> HttpResponse:
    return _render_jobs(request)


@require_POST
@organization_view(write=True)
def training_job_create_view(request: HttpRequest) -> HttpResponse:
    form = TrainingJobForm(request.POST, datasets=_datasets(request))
    if not form.is_valid():
        return _render_jobs(request, form=form, status=400)
    data = form.cleaned_data
    try:
        version = dataset_version_get(organization=request.organization, dataset_id=data["dataset"], version=None)
        validation = None
        if data["validation_dataset"]:
            validation = dataset_version_get(
                organization=request.organization, dataset_id=data["validation_dataset"], version=None
            )
        hyperparameters = {key: data[key] for key in ("epochs", "learning_rate") if data.get(key) is not None}
        job = services.training_job_create(
            organization=request.organization,
            actor=request.actor,
            task=data["task"],
            dataset_version=version,
            validation_dataset_version=validation,
            model_name=data["model_name"] or None,
            strategy=data["strategy"],
            hyperparameters=hyperparameters,
        )
    except ServiceError as error:
        form.add_error(None, error.message)
        return _render_jobs(request, form=form, status=error.status)
    except (ObjectDoesNotExist, ValidationError):  # not this organization's dataset: same as a missing one
        form.add_error("dataset", "Choose one of your datasets.")
        return _render_jobs(request, form=form, status=400)
    messages.success(request, f"Started a training job for {job.model_name}. It is validating the data now.")
    return redirect("dashboard:training_job", org_slug=request.organization.slug, job_id=job.id)


def _job_context(request: HttpRequest, job) -> dict:
    events = list(selectors.training_job_event_list(organization=request.organization, job=job))
    curves: dict[str, list[tuple[float, float]]] = {}
    for entry in job.history:
        epoch = entry.get("epoch")
        if epoch is None:
            continue
        for key, label in (("train_loss", "Training loss"), ("val_loss", "Validation loss")):
            if entry.get(key) is not None:
                curves.setdefault(label, []).append((float(epoch), float(entry[key])))
    quality = {}
    for entry in job.history:
        for key, label in (("val_accuracy", "Validation accuracy"), ("val_mrr", "Validation MRR")):
            if entry.get(key) is not None and entry.get("epoch") is not None:
                quality.setdefault(label, []).append((float(entry["epoch"]), float(entry[key])))
    version = getattr(job, "model_version", None) if job.status == JobStatus.SUCCEEDED else None
    return {
        "section": "training",
        "job": job,
        "events": events[-EVENTS_SHOWN:],
        "event_count": len(events),
        "loss_chart": line_chart(curves, x_label="Epoch", y_label="Loss") if curves else "",
        "quality_chart": line_chart(quality, x_label="Epoch", y_label="Score") if quality else "",
        "version": version,
        "percent": round(job.progress * 100),
    }


@require_GET
@organization_view()
def training_job_detail(request: HttpRequest, job_id) -> HttpResponse:
    job = get_or_404(selectors.training_job_get, organization=request.organization, job_id=job_id)
    template = "dashboard/training/_job_live.html" if request.htmx else "dashboard/training/job.html"
    return render(request, template, _job_context(request, job))


@require_POST
@organization_view(write=True)
def training_job_cancel_view(request: HttpRequest, job_id) -> HttpResponse:
    job = get_or_404(selectors.training_job_get, organization=request.organization, job_id=job_id)
    try:
        job = services.training_job_cancel(organization=request.organization, job=job, actor=request.actor)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, "Cancelled." if job.is_terminal else "Cancelling: the worker stops within a few seconds."
        )
    return redirect("dashboard:training_job", org_slug=request.organization.slug, job_id=job.id)


@require_GET
@organization_view()
def model_list(request: HttpRequest) -> HttpResponse:
    versions = list(selectors.model_version_list(organization=request.organization))
    models: dict[str, list] = {}
    for version in versions:
        models.setdefault(version.name, []).append(version)
    return render(request, "dashboard/training/models.html", {"section": "models", "models": models})


def _render_version(
    request: HttpRequest, version, *, form: PredictForm | None = None, predictions=None, status: int = 200
) -> HttpResponse:
    metrics = version.metrics or {}
    labels = metrics.get("labels") or version.labels
    context = {
        "section": "models",
        "version": version,
        "form": form or PredictForm(),
        "predictions": predictions,
        "per_class": metrics.get("per_class") or {},
        "confusion": list(zip(labels, metrics.get("confusion_matrix") or [], strict=False)),
        "confusion_labels": labels,
        "can_predict": version.task == Task.CLASSIFICATION,
    }
    return render(request, "dashboard/training/model_version.html", context, status=status)


@require_GET
@organization_view()
def model_version_detail(request: HttpRequest, version_id) -> HttpResponse:
    version = get_or_404(selectors.model_version_get, organization=request.organization, version_id=version_id)
    return _render_version(request, version)


@require_http_methods(["POST"])
@organization_view()
def model_version_predict_view(request: HttpRequest, version_id) -> HttpResponse:
    version = get_or_404(selectors.model_version_get, organization=request.organization, version_id=version_id)
    form = PredictForm(request.POST)
    if not form.is_valid():
        return _render_version(request, version, form=form, status=400)
    try:
        predictions = model_version_predict(
            version=version, texts=form.cleaned_data["texts"], request_id=str(uuid.uuid4())
        )
    except ServiceError as error:
        form.add_error(None, error.message)
        return _render_version(request, version, form=form, status=error.status)
    rows = list(zip(form.cleaned_data["texts"], predictions, strict=True))
    return _render_version(request, version, form=form, predictions=rows)


@require_POST
@organization_view(write=True)
def model_version_promote_view(request: HttpRequest, version_id) -> HttpResponse:
    version = get_or_404(selectors.model_version_get, organization=request.organization, version_id=version_id)
    try:
        version = services.model_version_promote(
            organization=request.organization, version=version, actor=request.actor, reason="dashboard"
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{version} is now active.")
    return redirect("dashboard:models", org_slug=request.organization.slug)


@require_POST
@organization_view(write=True)
def model_rollback_view(request: HttpRequest, name: str) -> HttpResponse:
    try:
        version = services.model_version_rollback(organization=request.organization, name=name, actor=request.actor)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Rolled back: {version} is active again.")
    return redirect("dashboard:models", org_slug=request.organization.slug)


urlpatterns = [
    path("training/", training_jobs, name="training_jobs"),
    path("training/new/", training_job_create_view, name="training_job_create"),
    path("training/<uuid:job_id>/", training_job_detail, name="training_job"),
    path("training/<uuid:job_id>/cancel/", training_job_cancel_view, name="training_job_cancel"),
    path("models/", model_list, name="models"),
    path("models/<uuid:version_id>/", model_version_detail, name="model_version"),
    path("models/<uuid:version_id>/predict/", model_version_predict_view, name="model_version_predict"),
    path("models/<uuid:version_id>/promote/", model_version_promote_view, name="model_version_promote"),
    path("models/<slug:name>/rollback/", model_rollback_view, name="model_rollback"),
]
