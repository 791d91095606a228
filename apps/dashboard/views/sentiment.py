"""Sentiment monitoring: monitors, their trends, the documents behind them, and spike alerts.

Every member reads; members with write access create monitors, correct documents and
acknowledge or resolve alerts. Another organization's monitor is a 404 like a missing one.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceError
from apps.dashboard.access import organization_view
from apps.dashboard.charts import ChartMarker, negative_share_chart, sentiment_stacked_chart
from apps.dashboard.forms import DocumentCorrectionForm, DocumentFilterForm, MonitorForm
from apps.dashboard.views.common import get_or_404, safe_next_url
from apps.sentiment import alerts, selectors, services
from apps.sentiment.models import AlertStatus, DocumentStatus, Granularity, Monitor, RescoreStatus, Sentiment
from apps.sentiment.retrain import monitor_rescore_latest

CHART_DAYS = 30
TOP_NEGATIVE_DAYS = 7
TOP_NEGATIVE_SHOWN = 5
DOCUMENTS_PAGE_SIZE = 25
# An export is built inside the request (row-level security scopes the transaction, so a
# streamed body would read nothing); 50,000 short texts is about 15 MB of CSV.
EXPORT_MAX_ROWS = 50_000
EXPORT_COLUMNS = (
    "id",
    "published_at",
    "source",
    "author",
    "url",
    "status",
    "sentiment",
    "sentiment_confidence",
    "topic",
    "text",
)
# OWASP "CSV Injection": a spreadsheet may run a cell starting with these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> str:
    """The cell as text, with a leading ' when a spreadsheet could read it as a formula.

    Stricter than the upload check in apps/datasets/validation.py (which refuses only what
    really is a formula, to spare texts like "-5% guidance"): on export a needless quote
    costs one character, a missed formula can run code on the reader's machine.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _monitor(request: HttpRequest, monitor_id) -> Monitor:
    return get_or_404(selectors.monitor_get, organization=request.organization, monitor_id=monitor_id)


def _topics(monitor: Monitor) -> list[str]:
    return [*monitor.topic_names, services.OTHER_TOPIC]


def _open_alerts(request: HttpRequest, monitor: Monitor) -> int:
    return alerts.spike_alert_list(organization=request.organization, monitor=monitor, status=AlertStatus.OPEN).count()


# --- monitors ------------------------------------------------------------------------------


def _render_monitors(request: HttpRequest, form: MonitorForm | None = None, status: int = 200) -> HttpResponse:
    monitors = list(selectors.monitor_list(organization=request.organization))
    rows = [
        {
            "monitor": monitor,
            "counts": selectors.monitor_document_counts(organization=request.organization, monitor=monitor),
            "open_alerts": _open_alerts(request, monitor),
        }
        for monitor in monitors
    ]
    context = {"section": "sentiment", "rows": rows, "form": form or MonitorForm()}
    return render(request, "dashboard/sentiment/monitors.html", context, status=status)


@require_GET
@organization_view()
def monitors(request: HttpRequest) -> HttpResponse:
    return _render_monitors(request)


@require_POST
@organization_view(write=True)
def monitor_create_view(request: HttpRequest) -> HttpResponse:
    form = MonitorForm(request.POST)
    if not form.is_valid():
        return _render_monitors(request, form=form, status=400)
    try:
        monitor = services.monitor_create(
            organization=request.organization,
            actor=request.actor,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            topics=form.cleaned_data["topics"],
        )
    except ServiceError as error:
        field = error.details.get("field")
        message = error.message
        if field == "topics" and "index" in error.details:
            message = f"Line {error.details['index'] + 1}: {message}"
        form.add_error(field if field in form.fields else None, message)
        return _render_monitors(request, form=form, status=error.status)
    messages.success(request, f"Created {monitor.name}. Send documents to it through the API to see its trends.")
    return redirect("dashboard:sentiment_monitor", org_slug=request.organization.slug, monitor_id=monitor.id)


# --- the monitor page ----------------------------------------------------------------------


def _day_counts(request: HttpRequest, monitor: Monitor, topic: str, today: date) -> list[tuple[date, dict[str, int]]]:
    first = today - timedelta(days=CHART_DAYS - 1)
    trends = selectors.trend_series(
        organization=request.organization,
        monitor=monitor,
        granularity=Granularity.DAY,
        since=datetime.combine(first, time.min, tzinfo=UTC),
        until=datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC),
        topic=topic or None,
    )
    by_day = {row["bucket_start"].astimezone(UTC).date(): row for row in trends["totals"]}
    days = [first + timedelta(days=offset) for offset in range(CHART_DAYS)]
    return [(day, {name: by_day.get(day, {}).get(name, 0) for name in Sentiment.values}) for day in days]


def _alert_markers(request: HttpRequest, monitor: Monitor, topic: str, first: date) -> list[ChartMarker]:
    start = datetime.combine(first, time.min, tzinfo=UTC)
    found = alerts.spike_alert_list(organization=request.organization, monitor=monitor).filter(window_start__gte=start)
    if topic:
        found = found.filter(topic=topic)
    inbox = reverse("dashboard:sentiment_alerts", args=[request.organization.slug, monitor.id])
    return [
        ChartMarker(
            position=(alert.window_start - start).total_seconds() / 86400,
            label=f"Spike in {alert.topic}, {alert.window_start:%b %-d %H:00} UTC: "
            f"{alert.current_negative} negative of {alert.current_total} ({alert.get_status_display().lower()})",
            href=f"{inbox}?status={alert.status}#alert-{alert.id}",
        )
        for alert in found.order_by("window_start")
    ]


@require_GET
@organization_view()
def monitor_detail(request: HttpRequest, monitor_id) -> HttpResponse:
    monitor = _monitor(request, monitor_id)
    topics = _topics(monitor)
    topic = request.GET.get("topic", "")
    topic = topic if topic in topics else ""
    counts = selectors.monitor_document_counts(organization=request.organization, monitor=monitor)
    waiting = counts[DocumentStatus.PENDING] + counts[DocumentStatus.DEFERRED]
    to_score = waiting + counts[DocumentStatus.SCORED]
    # Re-scoring after a new model version became active, with its progress.
    rescoring = [
        run
        for run in monitor_rescore_latest(organization=request.organization, monitor=monitor).values()
        if run is not None and run.status == RescoreStatus.RUNNING
    ]
    now = timezone.now()
    days = _day_counts(request, monitor, topic, now.astimezone(UTC).date())
    labelled = [(f"{day:%b} {day.day}", day_counts) for day, day_counts in days]
    scope = f" in {topic}" if topic else ""
    negatives = selectors.document_list(
        organization=request.organization,
        monitor=monitor,
        filters={
            "status": DocumentStatus.SCORED,
            "sentiment": Sentiment.NEGATIVE,
            "topic": topic,
            "since": now - timedelta(days=TOP_NEGATIVE_DAYS),
        },
    ).order_by("-sentiment_confidence", "-published_at")
    context = {
        "section": "sentiment",
        "monitor": monitor,
        "topics": topics,
        "topic": topic,
        "counts": counts,
        "waiting": waiting,
        "percent_scored": round(100 * counts[DocumentStatus.SCORED] / to_score) if to_score else 100,
        "rescoring": [(run, round(100 * run.progress)) for run in rescoring],
        "refreshing": bool(waiting or rescoring),
        "period_total": sum(sum(day_counts.values()) for _, day_counts in days),
        "period_negative": sum(day_counts[Sentiment.NEGATIVE] for _, day_counts in days),
        "stacked_chart": sentiment_stacked_chart(labelled, title=f"Documents by sentiment per day{scope}"),
        "share_chart": negative_share_chart(
            labelled,
            markers=_alert_markers(request, monitor, topic, days[0][0]),
            title=f"Negative share per day{scope}, with spike alerts",
        ),
        "top_negative": list(negatives[:TOP_NEGATIVE_SHOWN]),
        "open_alerts": _open_alerts(request, monitor),
        "top_negative_days": TOP_NEGATIVE_DAYS,
        "chart_days": CHART_DAYS,
    }
    return render(request, "dashboard/sentiment/monitor.html", context)


# --- documents -----------------------------------------------------------------------------


def _filter_form(request: HttpRequest, monitor: Monitor) -> DocumentFilterForm:
    return DocumentFilterForm(
        request.GET,
        topics=_topics(monitor),
        sentiments=Sentiment.choices,
        statuses=DocumentStatus.choices,
    )


@require_GET
@organization_view()
def documents(request: HttpRequest, monitor_id) -> HttpResponse:
    monitor = _monitor(request, monitor_id)
    form = _filter_form(request, monitor)
    filters = form.selector_filters()
    found = selectors.document_list(organization=request.organization, monitor=monitor, filters=filters).order_by(
        "-published_at", "-id"
    )
    page = Paginator(found, DOCUMENTS_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    can_correct = request.membership.can_write
    rows = [
        {
            "document": document,
            "form": DocumentCorrectionForm(
                initial={"sentiment": document.sentiment, "topic": document.topic},
                topics=_topics(monitor),
                sentiments=Sentiment.choices,
                prefix=f"d{document.id.hex[:8]}",
            )
            if can_correct and document.status == DocumentStatus.SCORED
            else None,
        }
        for document in page.object_list
    ]
    context = {
        "section": "sentiment",
        "monitor": monitor,
        "form": form,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "is_filtered": bool(filters),
        "export_max_rows": EXPORT_MAX_ROWS,
        "open_alerts": _open_alerts(request, monitor),
    }
    return render(request, "dashboard/sentiment/documents.html", context)


@require_POST
@organization_view(write=True)
def document_correct_view(request: HttpRequest, monitor_id, document_id) -> HttpResponse:
    monitor = _monitor(request, monitor_id)
    document = get_or_404(
        selectors.document_get, organization=request.organization, monitor=monitor, document_id=document_id
    )
    back = safe_next_url(
        request, reverse("dashboard:sentiment_documents", args=[request.organization.slug, monitor.id])
    )
    form = DocumentCorrectionForm(
        request.POST, topics=_topics(monitor), sentiments=Sentiment.choices, prefix=request.POST.get("prefix") or None
    )
    if not form.is_valid():
        messages.error(request, "Choose a sentiment and a topic from the lists.")
        return redirect(back)
    changed = [name for name in ("sentiment", "topic") if form.cleaned_data[name] != getattr(document, name)]
    try:
        for name in changed:
            services.document_correct(
                organization=request.organization,
                monitor=monitor,
                document_id=document.id,
                actor=request.actor,
                field=name,
                value=form.cleaned_data[name],
            )
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(back)
    if changed:
        summary = " and ".join(f"{name} {form.cleaned_data[name]}" for name in changed)
        messages.success(request, f"Corrected: {summary}. The trends count the document there now.")
    else:
        messages.info(request, "Nothing changed: the document already has that sentiment and topic.")
    return redirect(back)


@require_GET
@organization_view()
def documents_export(request: HttpRequest, monitor_id) -> HttpResponse:
    monitor = _monitor(request, monitor_id)
    filters = _filter_form(request, monitor).selector_filters()
    found = selectors.document_list(organization=request.organization, monitor=monitor, filters=filters).order_by(
        "-published_at", "-id"
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="sentiment-documents-{stamp}.csv"'
    response.write("\ufeff")  # so spreadsheets read the file as UTF-8
    writer = csv.writer(response)
    writer.writerow(EXPORT_COLUMNS)
    for document in found[:EXPORT_MAX_ROWS].iterator(chunk_size=2000):
        values = {name: getattr(document, name) for name in EXPORT_COLUMNS}
        values["published_at"] = document.published_at.astimezone(UTC).isoformat()
        if document.sentiment_confidence is not None:
            values["sentiment_confidence"] = f"{document.sentiment_confidence:.4f}"
        writer.writerow([spreadsheet_safe(values[name]) for name in EXPORT_COLUMNS])
    return response


# --- alerts --------------------------------------------------------------------------------


def _alert_view(alert) -> dict[str, Any]:
    share = alert.current_negative / alert.current_total if alert.current_total else 0.0
    return {
        "alert": alert,
        "current_share": round(100 * share),
        "baseline_share": round(100 * alert.baseline_negative_share),
        "ratio": alert.current_negative / alert.baseline_negative_per_hour
        if alert.baseline_negative_per_hour
        else None,
    }


@require_GET
@organization_view()
def alert_inbox(request: HttpRequest, monitor_id) -> HttpResponse:
    monitor = _monitor(request, monitor_id)
    status = request.GET.get("status", AlertStatus.OPEN)
    status = status if status in AlertStatus.values else AlertStatus.OPEN
    all_alerts = alerts.spike_alert_list(organization=request.organization, monitor=monitor)
    counts = dict.fromkeys(AlertStatus.values, 0)
    for value in all_alerts.values_list("status", flat=True):
        counts[value] += 1
    shown = all_alerts.filter(status=status).order_by("-window_start", "-id")
    context = {
        "section": "sentiment",
        "monitor": monitor,
        "status": status,
        "tabs": [(value, label, counts[value]) for value, label in AlertStatus.choices],
        "alerts": [_alert_view(alert) for alert in shown[:100]],
        "total_shown": shown.count(),
        "open_alerts": counts[AlertStatus.OPEN],
    }
    return render(request, "dashboard/sentiment/alerts.html", context)


@require_POST
@organization_view(write=True)
def alert_change_view(request: HttpRequest, monitor_id, alert_id, action: str) -> HttpResponse:
    monitor = _monitor(request, monitor_id)
    change = {"acknowledge": alerts.spike_alert_acknowledge, "resolve": alerts.spike_alert_resolve}[action]
    alert = get_or_404(alerts.spike_alert_get, organization=request.organization, monitor=monitor, alert_id=alert_id)
    try:
        alert = change(organization=request.organization, alert_id=alert.id, actor=request.actor, monitor=monitor)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{alert} is {alert.get_status_display().lower()}.")
    back = QueryDict(mutable=True)
    back["status"] = request.POST.get("status") if request.POST.get("status") in AlertStatus.values else alert.status
    url = reverse("dashboard:sentiment_alerts", args=[request.organization.slug, monitor.id])
    return redirect(f"{url}?{back.urlencode()}")


urlpatterns = [
    path("", monitors, name="sentiment_monitors"),
    path("new/", monitor_create_view, name="sentiment_monitor_create"),
    path("<uuid:monitor_id>/", monitor_detail, name="sentiment_monitor"),
    path("<uuid:monitor_id>/documents/", documents, name="sentiment_documents"),
    path("<uuid:monitor_id>/documents/export.csv", documents_export, name="sentiment_documents_export"),
    path(
        "<uuid:monitor_id>/documents/<uuid:document_id>/correct/",
        document_correct_view,
        name="sentiment_document_correct",
    ),
    path("<uuid:monitor_id>/alerts/", alert_inbox, name="sentiment_alerts"),
    path(
        "<uuid:monitor_id>/alerts/<uuid:alert_id>/acknowledge/",
        alert_change_view,
        {"action": "acknowledge"},
        name="sentiment_alert_acknowledge",
    ),
    path(
        "<uuid:monitor_id>/alerts/<uuid:alert_id>/resolve/",
        alert_change_view,
        {"action": "resolve"},
        name="sentiment_alert_resolve",
    ),
]
