"""Team: members and invitations. Owners and admins manage; anyone may leave."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import selectors
from apps.accounts.models import Role
from apps.accounts.services import invitation_create, invitation_revoke, membership_change_role, membership_remove
from apps.core.errors import ServiceError
from apps.dashboard.access import organization_view
from apps.dashboard.forms import InvitationForm, RoleChangeForm, role_choices
from apps.dashboard.views.common import get_or_404


def _render(
    request: HttpRequest, *, invite_form: InvitationForm | None = None, error: str = "", status: int = 200
) -> HttpResponse:
    organization = request.organization
    role = request.membership.role
    members = [
        {
            "membership": membership,
            "is_you": membership.user_id == request.user.id,
            # Admins manage everyone but owners; the service enforces the same rule.
            "can_edit": request.membership.can_manage
            and membership.user_id != request.user.id
            and (membership.role != Role.OWNER or role == Role.OWNER),
        }
        for membership in selectors.membership_list(organization=organization)
    ]
    context = {
        "section": "team",
        "members": members,
        "invitations": list(selectors.invitation_list(organization=organization, pending_only=True)),
        "invite_form": invite_form or InvitationForm(actor_role=role),
        "role_choices": role_choices(actor_role=role),
        "error": error,
    }
    return render(request, "dashboard/team.html", context, status=status)


def _back_to_team(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard:team", org_slug=request.organization.slug)


@require_GET
@organization_view()
def team(request: HttpRequest) -> HttpResponse:
    return _render(request)


@require_POST
@organization_view(manage=True)
def invitation_create_view(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST, actor_role=request.membership.role)
    if not form.is_valid():
        return _render(request, invite_form=form, status=400)
    try:
        invitation = invitation_create(organization=request.organization, actor=request.actor, **form.cleaned_data)
    except ServiceError as error:
        form.add_error(None, error.message)
        return _render(request, invite_form=form, status=error.status)
    messages.success(request, f"Invitation sent to {invitation.email} as {invitation.get_role_display().lower()}.")
    return _back_to_team(request)


@require_POST
@organization_view(manage=True)
def invitation_revoke_view(request: HttpRequest, invitation_id) -> HttpResponse:
    invitation = get_or_404(selectors.invitation_get, organization=request.organization, invitation_id=invitation_id)
    try:
        invitation = invitation_revoke(organization=request.organization, invitation=invitation, actor=request.actor)
    except ServiceError as error:
        return _render(request, error=error.message, status=error.status)
    messages.success(request, f"Revoked the invitation for {invitation.email}.")
    return _back_to_team(request)


@require_POST
@organization_view(manage=True)
def member_role_view(request: HttpRequest, membership_id) -> HttpResponse:
    membership = get_or_404(selectors.membership_get, organization=request.organization, membership_id=membership_id)
    form = RoleChangeForm(request.POST)
    if not form.is_valid():
        return _render(request, error="Choose one of the listed roles.", status=400)
    try:
        membership = membership_change_role(
            organization=request.organization,
            membership=membership,
            role=form.cleaned_data["role"],
            actor=request.actor,
        )
    except ServiceError as error:
        return _render(request, error=error.message, status=error.status)
    messages.success(request, f"{membership.user.email} is now {membership.get_role_display().lower()}.")
    return _back_to_team(request)


@require_POST
@organization_view()
def member_remove_view(request: HttpRequest, membership_id) -> HttpResponse:
    # Not manage=True: anyone may leave; the service decides who may remove whom.
    membership = get_or_404(selectors.membership_get, organization=request.organization, membership_id=membership_id)
    leaving = membership.user_id == request.user.id
    try:
        membership_remove(organization=request.organization, membership=membership, actor=request.actor)
    except ServiceError as error:
        return _render(request, error=error.message, status=error.status)
    if leaving:
        messages.success(request, f"You left {request.organization.name}.")
        return redirect("dashboard:home")
    messages.success(request, f"Removed {membership.user.email} from {request.organization.name}.")
    return _back_to_team(request)
