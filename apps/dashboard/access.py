"""Resolving the organization for dashboard pages: from the URL plus membership, never
from a stored "current organization" preference (STYLE.md section 5, rule 3)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.models import Membership
from apps.accounts.selectors import membership_get_for_user, membership_list_for_user
from apps.billing.selectors import organization_limits
from apps.core.actors import Actor, client_ip
from apps.core.tenancy import activate_organization, activate_user, request_scope


def with_user_scope(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For signed-in pages outside any organization: lets the user read their memberships."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with request_scope():
            activate_user(request.user.id)
            request.memberships = list(membership_list_for_user(user=request.user))
            return view(request, *args, **kwargs)

    return wrapper


READ_ONLY_MESSAGE = (
    "This organization's payment is overdue and the grace period has ended, so it can only read until the "
    "invoice is paid. Owners and admins can update the card under Usage & billing → Manage billing."
)


def _refused_while_read_only(request: HttpRequest, organization: Any, allowed: bool) -> bool:
    if allowed or request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    return organization_limits(organization=organization).is_read_only


def organization_view(*, manage: bool = False, write: bool = False, allowed_when_read_only: bool = False) -> Callable:
    """Decorate a view taking `org_slug` first.

    Resolves the membership inside the user's scope; anyone who is not a member gets the
    same 404 as for an organization that does not exist. Sets `request.organization`,
    `request.membership`, `request.memberships` and `request.actor`, and activates the
    organization's database context for the rest of the request.

    Args:
        manage: owners and admins only (keys, members, billing).
        write: any role but viewer.
        allowed_when_read_only: a POST that works even when the organization is read-only
            after the dunning grace period (the billing portal, to pay its way out).
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, org_slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            with request_scope():
                activate_user(request.user.id)
                membership: Membership | None = membership_get_for_user(user=request.user, organization_slug=org_slug)
                if membership is None:
                    raise Http404("No such organization.")
                organization = membership.organization
                activate_organization(organization.id)
                request.organization = organization
                request.membership = membership
                request.memberships = list(membership_list_for_user(user=request.user))
                request.actor = Actor(
                    via="dashboard", role=membership.role, user=request.user, ip_address=client_ip(request)
                )
                if organization.is_suspended:
                    return render(request, "dashboard/suspended.html", {"organization": organization}, status=403)
                if (manage and not membership.can_manage) or (write and not membership.can_write):
                    needed = "an owner or admin" if manage else "a member with write access"
                    return render(
                        request,
                        "errors/403.html",
                        {"message": f"Only {needed} can do this. Your role is {membership.get_role_display()}."},
                        status=403,
                    )
                if _refused_while_read_only(request, organization, allowed_when_read_only):
                    return render(request, "errors/403.html", {"message": READ_ONLY_MESSAGE}, status=402)
                return view(request, *args, **kwargs)

        return wrapper

    return decorator
