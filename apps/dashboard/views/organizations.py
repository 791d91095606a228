"""Pages outside any one organization: the organization list and invitation links."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.services import invitation_accept, invitation_get_by_token, organization_create
from apps.core.actors import Actor, client_ip
from apps.core.errors import ServiceError
from apps.dashboard.access import with_user_scope
from apps.dashboard.forms import OrganizationForm


@require_http_methods(["GET", "POST"])
@with_user_scope
def organization_list(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            actor = Actor(via="dashboard", role="owner", user=request.user, ip_address=client_ip(request))
            try:
                organization = organization_create(name=form.cleaned_data["name"], owner=request.user, actor=actor)
            except ServiceError as error:
                form.add_error("name", error.message)
            else:
                messages.success(request, f"{organization.name} is ready. You are its owner.")
                return redirect("dashboard:overview", org_slug=organization.slug)
        status = 400
    return render(request, "dashboard/organizations.html", {"form": form, "section": "organizations"}, status=status)


def _invitation_page(request: HttpRequest, token: str, *, error: str = "", status: int = 200) -> HttpResponse:
    try:
        invitation = invitation_get_by_token(token)
    except ServiceError as lookup_error:
        return render(
            request,
            "dashboard/invitation_accept.html",
            {"invitation": None, "error": lookup_error.message},
            status=lookup_error.status,
        )
    email_matches = request.user.is_authenticated and request.user.email.lower() == invitation.email.lower()
    context = {"invitation": invitation, "token": token, "error": error, "email_matches": email_matches}
    return render(request, "dashboard/invitation_accept.html", context, status=status)


@require_http_methods(["GET", "POST"])
def invitation_detail(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        return _invitation_accept(request, token)
    return _invitation_page(request, token)


@require_POST
@login_required
def _invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        membership = invitation_accept(token=token, user=request.user, ip_address=client_ip(request))
    except ServiceError as error:
        return _invitation_page(request, token, error=error.message, status=error.status)
    organization = membership.organization
    messages.success(request, f"You joined {organization.name} as {membership.get_role_display().lower()}.")
    return redirect("dashboard:overview", org_slug=organization.slug)
