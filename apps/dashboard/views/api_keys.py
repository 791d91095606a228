"""API keys: list for every member; create and revoke for owners and admins.

The secret exists only in the response to the create request. Nothing stores it, so a
reload (or any later page) cannot show it again.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.api_keys.models import ApiKey
from apps.api_keys.selectors import api_key_get, api_key_list
from apps.api_keys.services import api_key_create, api_key_revoke
from apps.core.errors import ServiceError
from apps.dashboard.access import organization_view
from apps.dashboard.forms import ApiKeyCreateForm
from apps.dashboard.views.common import get_or_404


def _render(
    request: HttpRequest,
    *,
    form: ApiKeyCreateForm | None = None,
    created: ApiKey | None = None,
    secret: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "section": "api_keys",
        "form": form or ApiKeyCreateForm(),
        "api_keys": list(api_key_list(organization=request.organization)),
        "created": created,
        "secret": secret,
    }
    # HTMX swaps only the create panel, and refreshes the list out of band.
    template = "dashboard/api_keys/_create_response.html" if request.htmx else "dashboard/api_keys/index.html"
    return render(request, template, context, status=status)


@require_GET
@organization_view()
def api_keys(request: HttpRequest) -> HttpResponse:
    return _render(request)


@require_POST
@organization_view(manage=True)
def api_key_create_view(request: HttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _render(request, form=form, status=400)
    try:
        api_key, secret = api_key_create(
            organization=request.organization,
            actor=request.actor,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.expires_at,
        )
    except ServiceError as error:
        form.add_error(None, error.message)
        return _render(request, form=form, status=error.status)
    response = _render(request, created=api_key, secret=secret, status=201)
    # The only response that ever holds the secret: no browser or proxy may keep a copy.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@organization_view(manage=True)
def api_key_revoke_view(request: HttpRequest, api_key_id) -> HttpResponse:
    api_key = get_or_404(api_key_get, organization=request.organization, api_key_id=api_key_id)
    try:
        api_key = api_key_revoke(organization=request.organization, api_key=api_key, actor=request.actor)
    except ServiceError as error:
        messages.error(request, error.message)
        return _render(request, status=error.status)
    messages.success(request, f"Revoked {api_key.name} ({api_key.masked}). Requests using it now fail with 401.")
    return redirect("dashboard:api_keys", org_slug=request.organization.slug)
