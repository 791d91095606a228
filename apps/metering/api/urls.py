"""/api/v1 routes of this app, as (pattern, view, name); see apps/config/api_urls.py."""

from apps.metering.api import views

ROUTES: list = [
    ("usage", views.UsageApi, "usage"),
]
