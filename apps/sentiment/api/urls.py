"""/api/v1 routes of this app, as (pattern, view, name); see apps/config/api_urls.py."""

from apps.core.routing import uuid
from apps.sentiment.api import views
from apps.sentiment.api.alerts import ROUTES as ALERT_ROUTES
from apps.sentiment.api.feeds import ROUTES as FEED_ROUTES

MONITOR = f"monitors/{uuid('monitor_id')}"
DOCUMENT = f"{MONITOR}/documents/{uuid('document_id')}"

ROUTES: list = [
    ("monitors", views.MonitorListApi, "monitor-list"),
    (MONITOR, views.MonitorDetailApi, "monitor-detail"),
    (f"{MONITOR}/documents", views.DocumentListApi, "monitor-document-list"),
    (f"{MONITOR}/documents/upload", views.DocumentUploadApi, "monitor-document-upload"),
    (DOCUMENT, views.DocumentDetailApi, "monitor-document-detail"),
    (f"{DOCUMENT}/corrections", views.DocumentCorrectionApi, "monitor-document-correction"),
    (f"{MONITOR}/trends", views.TrendApi, "monitor-trends"),
    (f"{MONITOR}/retrain", views.MonitorRetrainApi, "monitor-retrain"),
    *ALERT_ROUTES,
    *FEED_ROUTES,
]
