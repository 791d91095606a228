from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.billing.webhook_view import stripe_webhook
from apps.console.admin import console_site
from apps.core import views as core_views
from apps.core.errors import json_error

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("apps.config.api_urls")),
    # Stripe's deliveries (signed; no API key). docs/billing.md lists the events to enable.
    path("stripe/webhook", stripe_webhook, name="stripe-webhook"),
    path("console/", console_site.urls),
    path("", include("apps.dashboard.urls")),
]


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return json_error(400, "bad_request", "The request could not be understood.")
    return render(request, "errors/400.html", status=400)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return json_error(403, "permission_denied", "You do not have permission to perform this action.")
    return render(request, "errors/403.html", {"message": str(exception or "")}, status=403)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return json_error(404, "not_found", f"No API route matches {request.method} {request.path}.")
    return render(request, "errors/404.html", status=404)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return json_error(500, "internal_error", "Something went wrong on our side. It has been logged.")
    return render(request, "errors/500.html", status=500)
