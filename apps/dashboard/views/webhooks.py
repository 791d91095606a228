"""Webhooks: every member sees endpoints and their deliveries; owners and admins add, change,
test and delete endpoints, reveal or rotate secrets, and resend deliveries.

Secrets appear only in responses to an owner's or admin's explicit POST (create, reveal,
rotate), each marked no-store; no GET page ever contains one.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceError
from apps.dashboard.access import organization_view
from apps.dashboard.views.common import get_or_404
from apps.webhooks import selectors, services
from apps.webhooks.events import SUBSCRIBABLE_EVENT_TYPES, EventType
from apps.webhooks.models import WebhookEndpoint
from apps.webhooks.transport import MAX_URL_LENGTH

RECENT_DELIVERIES = 50
EVENT_TYPE_CHOICES = [(value, value) for value in SUBSCRIBABLE_EVENT_TYPES]
EVENT_TYPE_DESCRIPTIONS = dict(EventType.choices)


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=MAX_URL_LENGTH,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/tessera", "autocomplete": "off"}),
        help_text="Tessera sends a signed JSON POST here for each event you choose.",
    )
    description = forms.CharField(label="Description", max_length=255, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=EVENT_TYPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )

    def event_options(self) -> list[dict]:
        """Each event type with its description and whether it is ticked, for the checkbox grid."""
        chosen = set(self.data.getlist("event_types")) if self.is_bound else set(self.initial.get("event_types", []))
        return [
            {"value": value, "description": EVENT_TYPE_DESCRIPTIONS[value], "checked": value in chosen}
            for value in SUBSCRIBABLE_EVENT_TYPES
        ]


class RotateSecretForm(forms.Form):
    grace_period_hours = forms.TypedChoiceField(
        label="Keep the old secret valid for",
        coerce=int,
        choices=[(0, "No grace period (stop at once)"), (1, "1 hour"), (24, "24 hours"), (72, "72 hours")],
        initial=0,
        required=False,
        empty_value=0,
    )


def _fail(request: HttpRequest, error: ServiceError, endpoint: WebhookEndpoint | None = None) -> HttpResponse:
    messages.error(request, error.message)
    if endpoint is None:
        return redirect("dashboard:webhooks", org_slug=request.organization.slug)
    return redirect("dashboard:webhook_detail", org_slug=request.organization.slug, endpoint_id=endpoint.id)


def _endpoint(request: HttpRequest, endpoint_id) -> WebhookEndpoint:
    return get_or_404(selectors.webhook_endpoint_get, organization=request.organization, endpoint_id=endpoint_id)


def _render_list(request: HttpRequest, *, form: WebhookEndpointForm | None = None, status: int = 200) -> HttpResponse:
    context = {
        "section": "webhooks",
        "form": form or WebhookEndpointForm(),
        "endpoints": list(selectors.webhook_endpoint_list(organization=request.organization)),
    }
    return render(request, "dashboard/webhooks/index.html", context, status=status)


def _render_detail(
    request: HttpRequest,
    endpoint: WebhookEndpoint,
    *,
    secret: str = "",
    form: WebhookEndpointForm | None = None,
    status: int = 200,
) -> HttpResponse:
    deliveries = selectors.webhook_delivery_list(organization=request.organization, endpoint_id=endpoint.id)
    context = {
        "section": "webhooks",
        "endpoint": endpoint,
        "secret": secret,
        "form": form
        or WebhookEndpointForm(
            initial={"url": endpoint.url, "description": endpoint.description, "event_types": endpoint.event_types}
        ),
        "rotate_form": RotateSecretForm(),
        "deliveries": list(deliveries[:RECENT_DELIVERIES]),
        "event_descriptions": EVENT_TYPE_DESCRIPTIONS,
    }
    response = render(request, "dashboard/webhooks/detail.html", context, status=status)
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@require_GET
@organization_view()
def webhooks(request: HttpRequest) -> HttpResponse:
    return _render_list(request)


@require_POST
@organization_view(manage=True)
def webhook_create_view(request: HttpRequest) -> HttpResponse:
    form = WebhookEndpointForm(request.POST)
    if not form.is_valid():
        return _render_list(request, form=form, status=400)
    try:
        endpoint = services.webhook_endpoint_create(
            organization=request.organization, actor=request.actor, **form.cleaned_data
        )
    except ServiceError as error:
        form.add_error("url" if error.code == "invalid_url" else None, error.message)
        return _render_list(request, form=form, status=error.status)
    messages.success(request, "Endpoint added. Store its signing secret now; you can reveal it again later.")
    return _render_detail(request, endpoint, secret=endpoint.secret, status=201)


@require_GET
@organization_view()
def webhook_detail(request: HttpRequest, endpoint_id) -> HttpResponse:
    return _render_detail(request, _endpoint(request, endpoint_id))


@require_POST
@organization_view(manage=True)
def webhook_update_view(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    form = WebhookEndpointForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, endpoint, form=form, status=400)
    try:
        services.webhook_endpoint_update(
            organization=request.organization, endpoint=endpoint, actor=request.actor, **form.cleaned_data
        )
    except ServiceError as error:
        form.add_error("url" if error.code == "invalid_url" else None, error.message)
        return _render_detail(request, endpoint, form=form, status=error.status)
    messages.success(request, "Endpoint saved.")
    return redirect("dashboard:webhook_detail", org_slug=request.organization.slug, endpoint_id=endpoint.id)


@require_POST
@organization_view(manage=True)
def webhook_toggle_view(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    enable = request.POST.get("is_active") == "true"
    try:
        services.webhook_endpoint_update(
            organization=request.organization, endpoint=endpoint, actor=request.actor, is_active=enable
        )
    except ServiceError as error:
        return _fail(request, error, endpoint)
    messages.success(
        request, "Endpoint enabled." if enable else "Endpoint disabled. Pending retries to it are canceled."
    )
    return redirect("dashboard:webhook_detail", org_slug=request.organization.slug, endpoint_id=endpoint.id)


@require_POST
@organization_view(manage=True)
def webhook_delete_view(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    try:
        services.webhook_endpoint_delete(organization=request.organization, endpoint=endpoint, actor=request.actor)
    except ServiceError as error:
        return _fail(request, error, endpoint)
    messages.success(request, f"Deleted the endpoint {endpoint.url} and its delivery log.")
    return redirect("dashboard:webhooks", org_slug=request.organization.slug)


@require_POST
@organization_view(manage=True)
def webhook_secret_view(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    try:
        secret = services.webhook_endpoint_reveal_secret(
            organization=request.organization, endpoint=endpoint, actor=request.actor
        )
    except ServiceError as error:
        return _fail(request, error, endpoint)
    if not request.htmx:
        return _render_detail(request, endpoint, secret=secret)
    # HTMX swaps only the secret panel.
    response = render(
        request,
        "dashboard/webhooks/_secret.html",
        {"endpoint": endpoint, "secret": secret, "rotate_form": RotateSecretForm()},
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@organization_view(manage=True)
def webhook_rotate_view(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    form = RotateSecretForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a grace period from the list.")
        return redirect("dashboard:webhook_detail", org_slug=request.organization.slug, endpoint_id=endpoint.id)
    try:
        endpoint = services.webhook_endpoint_rotate_secret(
            organization=request.organization,
            endpoint=endpoint,
            actor=request.actor,
            grace_period_hours=form.cleaned_data["grace_period_hours"] or 0,
        )
    except ServiceError as error:
        return _fail(request, error, endpoint)
    messages.success(request, "New signing secret created. Update your receiver with it.")
    return _render_detail(request, endpoint, secret=endpoint.secret)


@require_POST
@organization_view(manage=True)
def webhook_test_view(request: HttpRequest, endpoint_id) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    try:
        services.webhook_endpoint_send_test(organization=request.organization, endpoint=endpoint, actor=request.actor)
    except ServiceError as error:
        return _fail(request, error, endpoint)
    messages.success(request, "Test event queued. Its delivery appears below; reload to follow its status.")
    return redirect("dashboard:webhook_detail", org_slug=request.organization.slug, endpoint_id=endpoint.id)


@require_POST
@organization_view(manage=True)
def webhook_delivery_resend_view(request: HttpRequest, delivery_id) -> HttpResponse:
    delivery = get_or_404(selectors.webhook_delivery_get, organization=request.organization, delivery_id=delivery_id)
    try:
        services.webhook_delivery_resend(organization=request.organization, delivery=delivery, actor=request.actor)
    except ServiceError as error:
        return _fail(request, error, delivery.endpoint)
    messages.success(request, f"Resending {delivery.event.public_id}. The new delivery appears below.")
    return redirect("dashboard:webhook_detail", org_slug=request.organization.slug, endpoint_id=delivery.endpoint_id)


urlpatterns: list = [
    path("", webhooks, name="webhooks"),
    path("create/", webhook_create_view, name="webhook_create"),
    path("<uuid:endpoint_id>/", webhook_detail, name="webhook_detail"),
    path("<uuid:endpoint_id>/edit/", webhook_update_view, name="webhook_update"),
    path("<uuid:endpoint_id>/toggle/", webhook_toggle_view, name="webhook_toggle"),
    path("<uuid:endpoint_id>/delete/", webhook_delete_view, name="webhook_delete"),
    path("<uuid:endpoint_id>/secret/", webhook_secret_view, name="webhook_secret"),
    path("<uuid:endpoint_id>/rotate-secret/", webhook_rotate_view, name="webhook_rotate_secret"),
    path("<uuid:endpoint_id>/test/", webhook_test_view, name="webhook_test"),
    path("deliveries/<uuid:delivery_id>/resend/", webhook_delivery_resend_view, name="webhook_delivery_resend"),
]
