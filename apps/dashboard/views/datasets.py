"""Datasets: every member reads the list, reports and versions; members and up upload.

An upload is validated completely before anything is stored; a refused file comes back
on the same page with every problem and its row number (as a spreadsheet shows it).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceError
from apps.dashboard.access import organization_view
from apps.dashboard.charts import bar_chart
from apps.dashboard.views.common import get_or_404
from apps.datasets.models import Dataset, DatasetKind, DatasetVersion
from apps.datasets.selectors import dataset_get, dataset_list, dataset_version_get, dataset_version_list
from apps.datasets.services import dataset_upload

# The multipart envelope around the file: the other form fields and boundaries.
_ENVELOPE_BYTES = 64 * 1024
KIND_HELP = {
    DatasetKind.LABELLED_TEXTS: "Columns text and label, optionally split (train, validation or test).",
    DatasetKind.TEXT_PAIRS: "Columns query and positive, optionally negative.",
}


class DatasetUploadForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    kind = forms.ChoiceField(
        label="Kind",
        choices=DatasetKind.choices,
        help_text="Labelled texts: text, label (optional split). Text pairs: query, positive (optional negative).",
    )
    file = forms.FileField(
        label="File",
        help_text="CSV, TSV or JSON lines, UTF-8.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.jsonl,.ndjson"}),
    )
    description = forms.CharField(
        label="Description", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields[
            "file"
        ].help_text = f"CSV, TSV or JSON lines, UTF-8, up to {filesizeformat(settings.DATASET_MAX_UPLOAD_BYTES)}."


class DatasetVersionForm(forms.Form):
    file = forms.FileField(label="File", widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.jsonl,.ndjson"}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            f"Same columns as before; CSV, TSV or JSON lines, UTF-8, up to "
            f"{filesizeformat(settings.DATASET_MAX_UPLOAD_BYTES)}."
        )


def _too_large(request: HttpRequest, form: forms.Form) -> bool:
    """Adds the error and returns True when the upload is over DATASET_MAX_UPLOAD_BYTES."""
    limit = settings.DATASET_MAX_UPLOAD_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    upload = request.FILES.get("file")
    size = upload.size if upload is not None else declared - _ENVELOPE_BYTES
    if size > limit:
        form.add_error(
            "file",
            f"The file is {filesizeformat(size)}; the limit is {filesizeformat(limit)}. "
            "Split it into smaller files, or remove columns you don't need.",
        )
        return True
    return False


def _upload(request: HttpRequest, form: forms.Form, *, dataset: Dataset | None = None):
    """Run the upload service; returns (version, error, status)."""
    valid = form.is_valid()
    if _too_large(request, form):
        return None, None, 413
    if not valid:
        return None, None, 400
    upload = form.cleaned_data["file"]
    try:
        version = dataset_upload(
            organization=request.organization,
            actor=request.actor,
            name=form.cleaned_data.get("name", ""),
            kind=form.cleaned_data.get("kind", ""),
            description=form.cleaned_data.get("description", ""),
            filename=upload.name,
            data=upload.read(),
            dataset=dataset,
            content_type=upload.content_type or "",
        )
    except ServiceError as error:
        if error.code != "dataset_invalid":
            field = error.details.get("field") if error.details.get("field") in form.fields else None
            form.add_error(field, error.message)
        return None, error, error.status
    return version, None, 201


def _render_list(request: HttpRequest, *, form=None, error=None, status=200) -> HttpResponse:
    context = {
        "section": "datasets",
        "datasets": list(dataset_list(organization=request.organization)),
        "form": form or DatasetUploadForm(),
        "refusal": error.details if error is not None and error.code == "dataset_invalid" else None,
        "refusal_message": error.message if error is not None else "",
        "kind_help": KIND_HELP,
        "max_text_chars": settings.DATASET_MAX_TEXT_CHARS,
    }
    return render(request, "dashboard/datasets/index.html", context, status=status)


def duration(seconds: float | None) -> str:
    """ "about 40 seconds", "about 12 minutes", "about 2.5 hours": estimates are rough."""
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"about {max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"


DEVICE_LABELS = {"cpu": "CPU workers", "cuda": "GPU workers"}
STRATEGY_LABELS = {
    "head": "Head only (fast; the encoder stays frozen)",
    "lora": "LoRA (adapters on the encoder)",
    "full": "Full fine-tune (all weights)",
}


def _report_context(version: DatasetVersion | None) -> dict:
    if version is None:
        return {"report": None, "label_chart": ""}
    report = version.report
    labels = list(report.get("labels", {}).items())
    recommended = report.get("recommended_strategy")
    return {
        "report": report,
        "estimates": [
            {
                **estimate,
                "duration": duration(estimate["seconds"]),
                "device_label": DEVICE_LABELS.get(estimate["device"], estimate["device"]),
                "strategy_label": STRATEGY_LABELS.get(estimate["strategy"], estimate["strategy"]),
                "is_recommended": bool(recommended)
                and (estimate["strategy"], estimate["device"]) == (recommended["strategy"], recommended["device"]),
            }
            for estimate in report.get("estimates", [])
        ],
        "recommended": recommended,
        "errors": [issue for issue in report.get("issues", []) if issue["severity"] == "error"],
        "warnings": [issue for issue in report.get("issues", []) if issue["severity"] == "warning"],
        "label_chart": bar_chart(labels, title="Examples per label", value_label="Examples") if labels else "",
    }


def _render_detail(
    request: HttpRequest, dataset: Dataset, *, version: DatasetVersion | None = None, form=None, error=None, status=200
) -> HttpResponse:
    versions = list(dataset_version_list(organization=request.organization, dataset_id=dataset.id))
    shown = version or (versions[0] if versions else None)
    context = {
        "section": "datasets",
        "dataset": dataset,
        "versions": versions,
        "version": shown,
        "is_latest": bool(versions) and shown is not None and shown.id == versions[0].id,
        "form": form or DatasetVersionForm(),
        "refusal": error.details if error is not None and error.code == "dataset_invalid" else None,
        "refusal_message": error.message if error is not None else "",
        "kind_help": KIND_HELP.get(dataset.kind, ""),
        **_report_context(shown),
    }
    return render(request, "dashboard/datasets/detail.html", context, status=status)


@require_GET
@organization_view()
def datasets(request: HttpRequest) -> HttpResponse:
    return _render_list(request)


@require_POST
@organization_view(write=True)
def dataset_upload_view(request: HttpRequest) -> HttpResponse:
    form = DatasetUploadForm(request.POST, request.FILES)
    version, error, status = _upload(request, form)
    if version is None:
        return _render_list(request, form=form, error=error, status=status)
    messages.success(
        request, f"Stored {version.dataset.name} version 1: {version.row_count:,} rows ready for training."
    )
    return redirect("dashboard:dataset_detail", org_slug=request.organization.slug, dataset_id=version.dataset_id)


@require_GET
@organization_view()
def dataset_detail(request: HttpRequest, dataset_id) -> HttpResponse:
    dataset = get_or_404(dataset_get, organization=request.organization, dataset_id=dataset_id)
    return _render_detail(request, dataset)


@require_GET
@organization_view()
def dataset_version_detail(request: HttpRequest, dataset_id, version: int) -> HttpResponse:
    dataset = get_or_404(dataset_get, organization=request.organization, dataset_id=dataset_id)
    shown = get_or_404(dataset_version_get, organization=request.organization, dataset_id=dataset.id, version=version)
    return _render_detail(request, dataset, version=shown)


@require_POST
@organization_view(write=True)
def dataset_version_upload_view(request: HttpRequest, dataset_id) -> HttpResponse:
    dataset = get_or_404(dataset_get, organization=request.organization, dataset_id=dataset_id)
    form = DatasetVersionForm(request.POST, request.FILES)
    version, error, status = _upload(request, form, dataset=dataset)
    if version is None:
        return _render_detail(request, dataset, form=form, error=error, status=status)
    messages.success(
        request, f"Stored {dataset.name} version {version.version}: {version.row_count:,} rows ready for training."
    )
    return redirect("dashboard:dataset_detail", org_slug=request.organization.slug, dataset_id=dataset.id)


urlpatterns = [
    path("", datasets, name="datasets"),
    path("upload/", dataset_upload_view, name="dataset_upload"),
    path("<uuid:dataset_id>/", dataset_detail, name="dataset_detail"),
    path("<uuid:dataset_id>/versions/", dataset_version_upload_view, name="dataset_version_upload"),
    path("<uuid:dataset_id>/versions/<int:version>/", dataset_version_detail, name="dataset_version_detail"),
]
