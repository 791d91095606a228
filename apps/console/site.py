"""The console's AdminSite: every view runs on the one named cross-tenant path.

Tenant tables are protected by PostgreSQL row-level security, so a console page outside
`cross_tenant(...)` would see no members, keys or audit entries. `ConsoleSite.admin_view`
wraps each admin view (the site's own and every registered ModelAdmin's) so that:

* the staff check runs first, outside the cross-tenant block: a non-staff request is
  redirected to the console login without ever switching roles;
* the view body runs inside `cross_tenant(reason="console.<view>")`;
* a TemplateResponse is rendered inside that block too. Admin changelists hand the
  template lazy querysets; rendered after the block (Django renders after the view
  returns) they would run without the cross-tenant role and show nothing.

The login view is not an admin_view and needs no tenant data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.options import BaseModelAdmin
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponseBadRequest
from django.template.response import SimpleTemplateResponse

from apps.accounts.login_throttle import LoginThrottleMixin
from apps.core.tenancy import cross_tenant


class ConsoleLoginForm(LoginThrottleMixin, AdminAuthenticationForm):
    pass


RECENT_CONSOLE_ENTRIES = 10
# The index lists what operators reach for first, first.
MODEL_ORDER = ("organization", "membership", "user", "apikey", "auditentry")


def cross_tenant_reason(view: Callable[..., Any]) -> str:
    """A dotted name for the logs: "console.index", "console.organization.changelist"."""
    view_class = getattr(view, "view_class", None)
    name = view_class.__name__ if view_class is not None else getattr(view, "__name__", "view")
    name = name.removesuffix("_view").lower() or "view"
    owner = getattr(view, "__self__", None)
    if isinstance(owner, BaseModelAdmin):
        return f"console.{owner.opts.model_name}.{name}"
    return f"console.{name}"


def _has_nul(request: HttpRequest) -> bool:
    # PostgreSQL text cannot hold NUL; a search or filter value with one would fail in the
    # database while the page renders. Refuse it up front instead.
    for query in (request.GET, request.POST):
        for key, values in query.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return True
    return False


def _model_rank(object_name: str) -> int:
    name = object_name.lower()
    return MODEL_ORDER.index(name) if name in MODEL_ORDER else len(MODEL_ORDER)


class ConsoleSite(admin.AdminSite):
    site_header = "Tessera console"
    site_title = "Tessera console"
    index_title = "Operate organizations"
    index_template = "console/index.html"
    login_form = ConsoleLoginForm
    enable_nav_sidebar = True

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Callable[..., Any]:
        reason = cross_tenant_reason(view)

        @functools.wraps(view)
        def in_cross_tenant(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if _has_nul(request):
                return HttpResponseBadRequest("Request parameters cannot contain NUL characters.")
            with cross_tenant(reason=reason):
                response = view(request, *args, **kwargs)
                if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
                    response.render()
            return response

        # super() adds the staff check (outside the block), never_cache and csrf_protect.
        return super().admin_view(in_cross_tenant, cacheable)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        app_list = super().get_app_list(request, app_label)
        for app in app_list:
            app["models"].sort(key=lambda entry: _model_rank(entry["object_name"]))
        return app_list

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        from apps.accounts.models import Organization
        from apps.audit.models import AuditEntry

        organizations = Organization.objects.aggregate(
            total=Count("pk"), suspended=Count("pk", filter=Q(suspended_at__isnull=False))
        )
        context = {
            "organization_total": organizations["total"],
            "suspended_total": organizations["suspended"],
            "recent_console_entries": AuditEntry.all_orgs.filter(via="console")
            .select_related("organization")
            .order_by("-created_at")[:RECENT_CONSOLE_ENTRIES],
            **(extra_context or {}),
        }
        return super().index(request, context)


console_site = ConsoleSite(name="console")
# Nothing in the console is deleted in bulk: keys are revoked, organizations suspended.
console_site.disable_action("delete_selected")
