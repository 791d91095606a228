"""Overview, settings, audit log, and the pages whose features arrive in later issues."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts import selectors as account_selectors
from apps.accounts.services import organization_update
from apps.api_keys.selectors import api_key_list
from apps.audit.selectors import audit_entry_list
from apps.core.errors import ServiceError
from apps.dashboard.access import organization_view
from apps.dashboard.forms import AuditFilterForm, OrganizationForm

AUDIT_PAGE_SIZE = 50
RECENT_ACTIVITY_SIZE = 6


@require_GET
@organization_view()
def overview(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    keys = api_key_list(organization=organization, include_revoked=False)
    invitations = account_selectors.invitation_list(organization=organization, pending_only=True)
    context = {
        "section": "overview",
        "active_key_count": sum(1 for key in keys if key.is_active),
        "member_count": account_selectors.membership_list(organization=organization).count(),
        "pending_invitation_count": sum(1 for invitation in invitations if invitation.is_pending),
        "recent_entries": (
            list(audit_entry_list(organization=organization)[:RECENT_ACTIVITY_SIZE])
            if request.membership.can_manage
            else []
        ),
    }
    return render(request, "dashboard/overview.html", context)


@require_http_methods(["GET", "POST"])
@organization_view()
def settings_view(request: HttpRequest) -> HttpResponse:
    organization = request.organization
    if request.method == "POST":
        form = OrganizationForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                organization_update(organization=organization, actor=request.actor, name=form.cleaned_data["name"])
            except ServiceError as error:
                form.add_error(None, error.message)
                status = error.status
            else:
                messages.success(request, f"Renamed the organization to {organization.name}.")
                return redirect("dashboard:settings", org_slug=organization.slug)
    else:
        form, status = OrganizationForm(initial={"name": organization.name}), 200
    return render(request, "dashboard/settings.html", {"section": "settings", "form": form}, status=status)


@require_GET
@organization_view(manage=True)
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    action = form.cleaned_data["action"] if form.is_valid() else ""
    entries = audit_entry_list(organization=request.organization, action=action or None)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"section": "audit", "form": form, "page": page, "entries": list(page.object_list), "action": action}
    return render(request, "dashboard/audit.html", context)


# What each not-yet-built page will hold, and which piece of work brings it.
COMING_SOON = {
    "products": {
        "title": "Products",
        "coming_with": "the product issues: customer service automation, sentiment monitoring and recommendations",
        "description": "Turn on the AI products your organization uses and configure each one.",
    },
    "datasets": {
        "title": "Datasets",
        "coming_with": "the training platform",
        "description": "Upload and version the labelled data your models are fine-tuned on.",
    },
    "models": {
        "title": "Models",
        "coming_with": "the training platform",
        "description": "Follow training runs, compare model versions and promote one to production.",
    },
}


def _coming_soon(section: str):
    @require_GET
    @organization_view()
    def view(request: HttpRequest) -> HttpResponse:
        return render(request, "dashboard/coming_soon.html", {"section": section, "page": COMING_SOON[section]})

    view.__name__ = f"{section}_view"
    return view


products = _coming_soon("products")
