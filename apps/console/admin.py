"""The operator console at /console/: Django admin on the cross-tenant path.

`SimpleAdminConfig` is installed, so nothing is autodiscovered: every model the console
shows is registered here on `console_site`, explicitly. Every view runs inside
`cross_tenant(reason="console.<view>")` (see apps/console/site.py) and tenant models are
read through their loud `all_orgs` manager.

Writes go through services and are audited on the organization they touch
(`via="console"`): suspend/unsuspend (apps/console/services.py), key revocation
(apps/api_keys/services.py), plan assignment, overrides and credits (apps/billing/services.py).
Users and plans are not tenant-owned, so their changes are logged. Billing pages live in
apps/console/billing_admin.py.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import display_for_value, unquote
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Now
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from apps.accounts.models import Membership, Organization, User
from apps.api_keys.models import ApiKey
from apps.api_keys.services import api_key_revoke
from apps.audit.models import AuditEntry
from apps.console.forms import SuspendForm
from apps.console.services import ConsoleError, console_actor, organization_suspend, organization_unsuspend
from apps.console.site import ConsoleSite, console_site
from apps.core.errors import ServiceError
from apps.core.models import TenantModel
from apps.core.tenancy import tenant_context

__all__ = ["ConsoleSite", "console_site"]

logger = logging.getLogger(__name__)

RECENT_AUDIT_ENTRIES = 20
CONFIRMATION_LIST_LIMIT = 100


# --- Helpers ---------------------------------------------------------------------------


def is_console_staff(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff)


def badge(label: str, tone: str, title: str = "") -> str:
    """A coloured label; tones are styled in templates/admin/base_site.html."""
    return format_html('<span class="tsr-badge tsr-badge--{}" title="{}">{}</span>', tone, title, label)


def console_url(name: str, *args: Any) -> str:
    return reverse(f"{console_site.name}:{name}", args=args)


def count_per(queryset: QuerySet, field: str) -> Coalesce:
    """A correlated COUNT of `queryset` rows whose `field` is the outer row (no join fan-out)."""
    counted = (
        queryset.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(total=Count("pk"))
        .values("total")[:1]
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def active_api_keys(queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
    return queryset.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=Now()))


API_KEY_STATUS_TONES = {"active": "ok", "revoked": "danger", "expired": "muted"}


# --- Base classes ----------------------------------------------------------------------


class ConsoleModelAdmin(admin.ModelAdmin):
    """Read-only for staff unless a subclass says otherwise; nothing is added or deleted.

    Permissions follow `is_staff` (Tessera staff), not per-model Django permissions.
    Actions declare `permissions=["operate"]`.
    """

    list_per_page = 50
    list_max_show_all = 500

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_console_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_console_staff(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return is_console_staff(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        manager = self.model.all_orgs if issubclass(self.model, TenantModel) else self.model._default_manager
        queryset = manager.get_queryset()
        ordering = self.get_ordering(request)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return queryset

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # Only the lookups the console's own filters and links produce. Django would allow any
        # lookup on a local field (`?name__regex=(`, `?ip_address=x`), which fails in the
        # database while the page renders: a 500 on bad input.
        return lookup in self.console_lookups() and super().lookup_allowed(lookup, value, request)

    def console_lookups(self) -> set[str]:
        lookups = set()
        for list_filter in self.list_filter:
            if isinstance(list_filter, str):
                lookups |= {f"{list_filter}__exact", f"{list_filter}__isnull"}
            else:
                lookups.add(list_filter.parameter_name)
        if self.date_hierarchy:
            lookups |= {f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day")}
        if issubclass(self.model, TenantModel):
            lookups.add("organization__id__exact")  # the links from an organization's page
        return lookups

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        # Django would pass malformed ids straight to `pk__in` and answer 500.
        pk_field = self.opts.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk_field.to_python(value)
        except ValidationError:
            self.message_user(request, "That selection is not valid. Pick rows from the list.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

    def nothing_selected(self, request: HttpRequest, queryset: QuerySet) -> bool:
        """True, with a message, when none of the selected rows exist (any more)."""
        if queryset.exists():
            return False
        self.message_user(request, "None of the selected rows exist any more. Nothing was changed.", messages.WARNING)
        return True

    def confirmation_context(self, request: HttpRequest, queryset: QuerySet, **extra: Any) -> dict[str, Any]:
        """Context for an action's intermediate page, which posts the selection back."""
        objects = list(queryset[:CONFIRMATION_LIST_LIMIT])
        total = queryset.count()
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "objects": objects,
            "total": total,
            "more": total - len(objects),
            "action": request.POST.get("action", ""),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": console_url(f"{self.opts.app_label}_{self.opts.model_name}_changelist"),
            **extra,
        }


class ConsoleInline(admin.TabularInline):
    """A read-only table of tenant rows on a detail page."""

    extra = 0
    can_delete = False
    classes = ("tsr-inline",)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_console_staff(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        # Tenant FKs have related_name="+", which would leave the formset without a prefix.
        formset = super().get_formset(request, obj, **kwargs)
        prefix = f"{self.model._meta.model_name}_{self.fk_name}"
        return type(formset.__name__, (formset,), {"get_default_prefix": classmethod(lambda cls: prefix)})

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        if not self.has_view_permission(request):
            return self.model.all_orgs.none()
        queryset = self.model.all_orgs.get_queryset()
        ordering = self.get_ordering(request)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return queryset


# --- Filters ---------------------------------------------------------------------------


class OrganizationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("suspended", "Suspended")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "active":
            return queryset.filter(suspended_at__isnull=True)
        if self.value() == "suspended":
            return queryset.filter(suspended_at__isnull=False)
        return queryset


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "active":
            return active_api_keys(queryset)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=Now())
        return queryset


# --- Shared column renderers ------------------------------------------------------------


class ApiKeyColumns:
    @admin.display(description="key")
    def masked_key(self, api_key: ApiKey) -> str:
        return format_html("<code>{}</code>", api_key.masked)

    @admin.display(description="scopes")
    def scope_list(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes) or "—"

    @admin.display(description="status")
    def status_badge(self, api_key: ApiKey) -> str:
        return badge(api_key.status.capitalize(), API_KEY_STATUS_TONES[api_key.status])


def organization_link(organization: Organization) -> str:
    url = console_url("accounts_organization_change", organization.pk)
    label = badge("Suspended", "danger") if organization.is_suspended else ""
    return format_html('<a href="{}">{}</a> {}', url, organization.name, label)


# --- Organizations ---------------------------------------------------------------------


class MembershipInline(ConsoleInline):
    model = Membership
    fk_name = "organization"
    verbose_name = "member"
    verbose_name_plural = "members"
    fields = ("email", "role", "joined")
    readonly_fields = fields
    ordering = ("created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("user")

    @admin.display(description="email")
    def email(self, membership: Membership) -> str:
        return format_html(
            '<a href="{}">{}</a>', console_url("accounts_user_change", membership.user_id), membership.user
        )

    @admin.display(description="joined")
    def joined(self, membership: Membership) -> str:
        return display_for_value(membership.created_at, "—")


class ApiKeyInline(ApiKeyColumns, ConsoleInline):
    model = ApiKey
    fk_name = "organization"
    fields = ("name_link", "masked_key", "scope_list", "status_badge", "created_at", "last_used_at")
    readonly_fields = fields
    ordering = ("-created_at",)

    @admin.display(description="name")
    def name_link(self, api_key: ApiKey) -> str:
        return format_html('<a href="{}">{}</a>', console_url("api_keys_apikey_change", api_key.pk), api_key.name)


@admin.register(Organization, site=console_site)
class OrganizationAdmin(ConsoleModelAdmin):
    list_display = ("name", "slug", "member_count", "active_key_count", "created_at", "status")
    list_filter = (OrganizationStatusFilter,)
    search_fields = ("name", "slug")
    search_help_text = "Search by organization name, slug or a member's email."
    ordering = ("name",)
    fields = ("name", "slug", "status", "suspended_at", "suspended_reason", "created_at", "updated_at")
    readonly_fields = fields
    inlines = (MembershipInline, ApiKeyInline)
    actions = ("suspend_organizations", "unsuspend_organizations")
    change_form_template = "console/organization/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=count_per(Membership.all_orgs.all(), "organization"),
                active_key_total=count_per(active_api_keys(ApiKey.all_orgs.all()), "organization"),
            )
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        member_organizations = Membership.all_orgs.filter(user__email__icontains=term).values("organization_id")
        matches = Q(name__icontains=term) | Q(slug__icontains=term) | Q(pk__in=member_organizations)
        return queryset.filter(matches), False

    @admin.display(description="members", ordering="member_total")
    def member_count(self, organization: Organization) -> int:
        return organization.member_total

    @admin.display(description="active keys", ordering="active_key_total")
    def active_key_count(self, organization: Organization) -> int:
        return organization.active_key_total

    @admin.display(description="status", ordering="suspended_at")
    def status(self, organization: Organization) -> str:
        if organization.is_suspended:
            return badge("Suspended", "danger", organization.suspended_reason)
        return badge("Active", "ok")

    # Detail page ------------------------------------------------------------------------

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/suspend/",
                self.admin_site.admin_view(self.suspend_view),
                name="{}_{}_suspend".format(*info),
            ),
            path(
                "<path:object_id>/unsuspend/",
                self.admin_site.admin_view(self.unsuspend_view),
                name="{}_{}_unsuspend".format(*info),
            ),
            path("usage/", self.admin_site.admin_view(self.usage_view), name="{}_{}_usage".format(*info)),
            path(
                "<path:object_id>/billing/",
                self.admin_site.admin_view(self.billing_view),
                name="{}_{}_billing".format(*info),
            ),
            path(
                "<path:object_id>/billing/plan/",
                self.admin_site.admin_view(self.billing_plan_view),
                name="{}_{}_billing_plan".format(*info),
            ),
            path(
                "<path:object_id>/billing/overrides/",
                self.admin_site.admin_view(self.billing_overrides_view),
                name="{}_{}_billing_overrides".format(*info),
            ),
            path(
                "<path:object_id>/billing/credit/",
                self.admin_site.admin_view(self.billing_credit_view),
                name="{}_{}_billing_credit".format(*info),
            ),
            *super().get_urls(),
        ]

    # Billing pages (apps/console/billing_admin.py); methods here so each view's
    # cross-tenant reason reads "console.organization.<view>".

    def usage_view(self, request: HttpRequest) -> HttpResponse:
        return billing_admin.organization_usage_view(self, request)

    def billing_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return billing_admin.organization_billing_view(self, request, object_id)

    def billing_plan_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return billing_admin.organization_plan_assign_view(self, request, object_id)

    def billing_overrides_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return billing_admin.organization_overrides_view(self, request, object_id)

    def billing_credit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return billing_admin.organization_credit_view(self, request, object_id)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Organization | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(
                {
                    "organization": obj,
                    "can_operate": self.has_operate_permission(request),
                    "recent_audit_entries": AuditEntry.all_orgs.for_org(obj).order_by("-created_at")[
                        :RECENT_AUDIT_ENTRIES
                    ],
                    "audit_log_url": f"{console_url('audit_auditentry_changelist')}?organization__id__exact={obj.pk}",
                    "api_keys_url": f"{console_url('api_keys_apikey_changelist')}?organization__id__exact={obj.pk}",
                    "suspend_url": console_url("accounts_organization_suspend", obj.pk),
                    "unsuspend_url": console_url("accounts_organization_unsuspend", obj.pk),
                    **billing_admin.organization_billing_summary(obj),
                }
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _organization_or_redirect(self, request: HttpRequest, object_id: str) -> Organization | HttpResponse:
        organization = self.get_object(request, unquote(object_id))
        if organization is None or not self.has_operate_permission(request):
            self.message_user(request, "That organization does not exist.", messages.WARNING)
            return HttpResponseRedirect(console_url("accounts_organization_changelist"))
        return organization

    def suspend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        found = self._organization_or_redirect(request, object_id)
        if isinstance(found, HttpResponse):
            return found
        organization = found
        change_url = console_url("accounts_organization_change", organization.pk)
        if organization.is_suspended:
            self.message_user(request, f"{organization} is already suspended.", messages.INFO)
            return HttpResponseRedirect(change_url)
        form = SuspendForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                organization_suspend(
                    organization=organization, actor=console_actor(request), reason=form.cleaned_data["reason"]
                )
            except ConsoleError as error:
                form.add_error("reason", error.message)
            else:
                self.message_user(request, f"Suspended {organization}.", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        return TemplateResponse(
            request,
            "console/organization/suspend.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"Suspend {organization}",
                "objects": [organization],
                "total": 1,
                "more": 0,
                "form": form,
                "cancel_url": change_url,
            },
        )

    def unsuspend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        found = self._organization_or_redirect(request, object_id)
        if isinstance(found, HttpResponse):
            return found
        organization = found
        change_url = console_url("accounts_organization_change", organization.pk)
        if not organization.is_suspended:
            self.message_user(request, f"{organization} is not suspended.", messages.INFO)
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            organization_unsuspend(organization=organization, actor=console_actor(request))
            self.message_user(request, f"Unsuspended {organization}.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        return TemplateResponse(
            request,
            "console/organization/unsuspend.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"Unsuspend {organization}",
                "organization": organization,
                "cancel_url": change_url,
            },
        )

    # Actions ----------------------------------------------------------------------------

    @admin.action(description="Suspend selected organizations…", permissions=["operate"])
    def suspend_organizations(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if self.nothing_selected(request, queryset):
            return None
        form = SuspendForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if form.is_valid():
            actor = console_actor(request)
            to_suspend = list(queryset.filter(suspended_at__isnull=True))
            try:
                for organization in to_suspend:
                    organization_suspend(organization=organization, actor=actor, reason=form.cleaned_data["reason"])
            except ConsoleError as error:
                self.message_user(request, error.message, messages.ERROR)
                return None
            skipped = queryset.count() - len(to_suspend)
            message = f"Suspended {len(to_suspend)} organization(s)."
            if skipped:
                message += f" {skipped} already suspended, left as they were."
            self.message_user(request, message, messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "console/organization/suspend.html",
            self.confirmation_context(
                request,
                queryset,
                title="Suspend organizations",
                form=form,
                bulk=True,
                cancel_url=request.get_full_path(),
            ),
        )

    @admin.action(description="Unsuspend selected organizations", permissions=["operate"])
    def unsuspend_organizations(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = console_actor(request)
        to_unsuspend = list(queryset.filter(suspended_at__isnull=False))
        for organization in to_unsuspend:
            organization_unsuspend(organization=organization, actor=actor)
        skipped = queryset.count() - len(to_unsuspend)
        message = f"Unsuspended {len(to_unsuspend)} organization(s)."
        if skipped:
            message += f" {skipped} were not suspended."
        self.message_user(request, message, messages.SUCCESS)


# --- API keys --------------------------------------------------------------------------


@admin.register(ApiKey, site=console_site)
class ApiKeyAdmin(ApiKeyColumns, ConsoleModelAdmin):
    list_display = (
        "name",
        "organization_column",
        "masked_key",
        "scope_list",
        "status_badge",
        "created_at",
        "last_used_at",
    )
    list_display_links = ("name",)
    list_filter = (ApiKeyStatusFilter,)
    list_select_related = ("organization",)
    search_fields = ("name", "prefix", "organization__name", "organization__slug")
    search_help_text = "Search by key name, prefix (tsk_live_Ab3x) or organization."
    ordering = ("-created_at",)
    # Never key_hash; the secret itself is not stored.
    fields = (
        "organization",
        "name",
        "masked_key",
        "scope_list",
        "status_badge",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    readonly_fields = fields
    actions = ("revoke_keys",)

    @admin.display(description="organization", ordering="organization__name")
    def organization_column(self, api_key: ApiKey) -> str:
        return organization_link(api_key.organization)

    @admin.action(description="Revoke selected keys…", permissions=["operate"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        queryset = queryset.select_related("organization")
        if self.nothing_selected(request, queryset):
            return None
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "console/api_key/revoke.html",
                self.confirmation_context(
                    request,
                    queryset,
                    title="Revoke API keys",
                    cancel_url=request.get_full_path(),
                ),
            )
        actor = console_actor(request)
        to_revoke = list(queryset.filter(revoked_at__isnull=True))
        try:
            for api_key in to_revoke:
                with tenant_context(api_key.organization_id):
                    api_key_revoke(organization=api_key.organization, api_key=api_key, actor=actor)
        except ServiceError as error:
            self.message_user(request, error.message, messages.ERROR)
            return None
        skipped = queryset.count() - len(to_revoke)
        message = f"Revoked {len(to_revoke)} API key(s)."
        if skipped:
            message += f" {skipped} were already revoked."
        self.message_user(request, message, messages.SUCCESS)
        return None


# --- Memberships -----------------------------------------------------------------------


@admin.register(Membership, site=console_site)
class MembershipAdmin(ConsoleModelAdmin):
    list_display = ("email", "organization_column", "role", "created_at")
    list_display_links = ("email",)
    list_filter = ("role",)
    list_select_related = ("user", "organization")
    search_fields = ("user__email", "organization__name", "organization__slug")
    search_help_text = "Search by member email or organization."
    ordering = ("-created_at",)
    fields = ("user", "organization", "role", "created_at", "updated_at")
    readonly_fields = fields

    @admin.display(description="email", ordering="user__email")
    def email(self, membership: Membership) -> str:
        return membership.user.email

    @admin.display(description="organization", ordering="organization__name")
    def organization_column(self, membership: Membership) -> str:
        return organization_link(membership.organization)


# --- Audit log -------------------------------------------------------------------------

VIA_TONES = {"console": "warning", "api": "info", "dashboard": "ok", "system": "muted"}


@admin.register(AuditEntry, site=console_site)
class AuditEntryAdmin(ConsoleModelAdmin):
    list_display = ("time", "organization_column", "action", "actor_label", "via_badge", "target", "ip_address")
    list_display_links = ("time",)
    list_filter = ("via", "action")
    list_select_related = ("organization",)
    search_fields = ("organization__name", "actor_label", "action")
    search_help_text = "Search by organization, actor or action."
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 100
    fields = (
        "created_at",
        "organization",
        "action",
        "via",
        "actor_label",
        "actor_user",
        "actor_api_key",
        "target",
        "ip_address",
        "metadata_pretty",
    )
    readonly_fields = fields

    @admin.display(description="time", ordering="created_at")
    def time(self, entry: AuditEntry) -> str:
        return display_for_value(entry.created_at, "—")

    @admin.display(description="organization", ordering="organization__name")
    def organization_column(self, entry: AuditEntry) -> str:
        return organization_link(entry.organization)

    @admin.display(description="via", ordering="via")
    def via_badge(self, entry: AuditEntry) -> str:
        return badge(entry.via, VIA_TONES.get(entry.via, "muted"))

    @admin.display(description="target")
    def target(self, entry: AuditEntry) -> str:
        if not entry.target_type:
            return "—"
        app_label, _, model_name = entry.target_type.partition(".")
        try:
            url = console_url(f"{app_label}_{model_name}_change", entry.target_id)
        except NoReverseMatch:
            return entry.target_label or entry.target_type
        return format_html('<a href="{}">{}</a>', url, entry.target_label or entry.target_type)

    @admin.display(description="details")
    def metadata_pretty(self, entry: AuditEntry) -> str:
        if not entry.metadata:
            return "—"
        return format_html("<pre class='tsr-json'>{}</pre>", json.dumps(entry.metadata, indent=2, sort_keys=True))


# --- Users -----------------------------------------------------------------------------


class UserMembershipInline(ConsoleInline):
    model = Membership
    fk_name = "user"
    verbose_name = "organization"
    verbose_name_plural = "organizations"
    fields = ("organization_column", "role", "created_at")
    readonly_fields = fields
    ordering = ("created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("organization")

    @admin.display(description="organization")
    def organization_column(self, membership: Membership) -> str:
        return organization_link(membership.organization)


@admin.register(User, site=console_site)
class UserAdmin(ConsoleModelAdmin):
    """Users are not tenant-owned. Staff may (de)activate accounts and grant or remove staff."""

    list_display = ("email", "full_name", "staff_badge", "active_badge", "date_joined", "organization_count")
    list_filter = ("is_staff", "is_active")
    search_fields = ("email", "full_name")
    search_help_text = "Search by email or name."
    ordering = ("-date_joined",)
    fields = ("email", "full_name", "is_active", "is_staff", "is_superuser", "date_joined", "last_login")
    inlines = (UserMembershipInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(organization_total=count_per(Membership.all_orgs.all(), "user"))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_console_staff(request)

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        readonly = ("email", "full_name", "is_superuser", "date_joined", "last_login")
        # Nobody locks themselves out, and only a superuser changes a superuser.
        protected = obj is None or obj.pk == request.user.pk or (obj.is_superuser and not request.user.is_superuser)
        return (*readonly, "is_active", "is_staff") if protected else readonly

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        logger.info(
            "console.user_updated",
            extra={
                "user_id": obj.pk,
                "changed_fields": sorted(form.changed_data),
                "is_active": obj.is_active,
                "is_staff": obj.is_staff,
                "staff_user_id": request.user.pk,
            },
        )

    @admin.display(description="staff", ordering="is_staff")
    def staff_badge(self, user: User) -> str:
        if user.is_superuser:
            return badge("Superuser", "warning")
        return badge("Staff", "info") if user.is_staff else "—"

    @admin.display(description="active", ordering="is_active")
    def active_badge(self, user: User) -> str:
        return badge("Active", "ok") if user.is_active else badge("Deactivated", "danger")

    @admin.display(description="organizations", ordering="organization_total")
    def organization_count(self, user: User) -> int:
        return user.organization_total


# --- Billing ---------------------------------------------------------------------------

# Last: billing_admin builds on the classes above, and importing it registers the Plan and
# StripeEvent admins.
from apps.console import billing_admin  # noqa: E402
