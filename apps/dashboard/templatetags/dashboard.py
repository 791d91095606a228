"""Display helpers for dashboard templates: audit wording, badges, money and quantities, and the
usage alert banner of the app layout."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from apps.metering.models import AlertKind, Meter, UsageAlert

register = template.Library()

ACTION_LABELS = {
    "api_key.created": "Created API key",
    "api_key.revoked": "Revoked API key",
    "member.role_changed": "Changed role of",
    "member.removed": "Removed member",
    "member.left": "Left the organization",
    "invitation.created": "Invited",
    "invitation.accepted": "Accepted invitation",
    "invitation.revoked": "Revoked invitation for",
    "organization.created": "Created organization",
    "organization.updated": "Updated organization",
    "dataset.uploaded": "Uploaded dataset",
    "training_job.created": "Started training job",
    "training_job.cancelled": "Cancelled training job",
    "model_version.created": "Created model version",
    "model_version.promoted": "Promoted model version",
    "model_version.rolled_back": "Rolled back to model version",
    "webhook_endpoint.created": "Added webhook endpoint",
    "webhook_endpoint.updated": "Updated webhook endpoint",
    "webhook_endpoint.deleted": "Deleted webhook endpoint",
    "webhook_endpoint.secret_revealed": "Revealed the signing secret of",
    "webhook_endpoint.secret_rotated": "Rotated the signing secret of",
    "webhook_endpoint.test_sent": "Sent a test event to",
    "webhook_delivery.resent": "Resent webhook delivery",
    "billing.checkout_started": "Started checkout for",
    "billing.portal_opened": "Opened the",
    "billing.spend_cap_changed": "Changed the",
    "billing.subscription_synced": "Synced the subscription from Stripe:",
    "billing.plan_assigned": "Assigned the plan",
    "billing.overrides_changed": "Changed the",
    "billing.credit_granted": "Granted",
}

VIA_LABELS = {"dashboard": "Dashboard", "api": "API", "console": "Tessera console", "system": "System"}


@register.filter
def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action.replace("_", " ").replace(".", ": "))


@register.filter
def action_phrase(action: str) -> str:
    """The label as the middle of a sentence: "ada@example.com created API key ..."."""
    label = action_label(action)
    return label[:1].lower() + label[1:]


@register.filter
def via_label(via: str) -> str:
    return VIA_LABELS.get(via, via)


def _format_value(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"from", "to"}:
        return f"{value['from']} → {value['to']}"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@register.filter
def audit_details(metadata: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Metadata as (label, text) pairs: {"role": {"from": "member", "to": "admin"}} -> role: member → admin."""
    if not metadata:
        return []
    # None means "not set" (a key without expiry); internal ids mean nothing to a reader.
    return [
        (key.replace("_", " "), _format_value(value))
        for key, value in metadata.items()
        if key != "user_id" and value is not None
    ]


@register.filter
def ago(moment: datetime | None) -> str:
    """ "just now", "5 minutes ago", "3 days ago": a short relative time for lists."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, depth=1)} ago"


@register.filter
def status_tone(status: str) -> str:
    """The badge colour for a key or invitation status."""
    return {"active": "success", "pending": "info", "expired": "warning", "revoked": "neutral"}.get(status, "neutral")


@register.filter
def initials(name: str) -> str:
    parts = [part for part in (name or "").replace("@", " ").replace(".", " ").split() if part]
    return "".join(part[0] for part in parts[:2]).upper() or "?"


# 24px stroke icons drawn for the sidebar and buttons (no icon font, no CDN).
ICONS = {
    "sentiment": (
        '<path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z"/><path d="m8 13.5 2.5-2.5 2 2L16 9.5"/>'
    ),
    "overview": '<path d="M3 10.5 12 3l9 7.5V20a1 1 0 0 1-1 1h-5v-6h-6v6H4a1 1 0 0 1-1-1z"/>',
    "products": (
        '<rect x="3" y="3" width="7" height="7" rx="1.5"/><rect x="14" y="3" width="7" height="7" rx="1.5"/>'
        '<rect x="3" y="14" width="7" height="7" rx="1.5"/><rect x="14" y="14" width="7" height="7" rx="1.5"/>'
    ),
    "datasets": (
        '<ellipse cx="12" cy="5" rx="8" ry="3"/><path d="M4 5v14c0 1.66 3.58 3 8 3s8-1.34 8-3V5"/>'
        '<path d="M4 12c0 1.66 3.58 3 8 3s8-1.34 8-3"/>'
    ),
    "models": (
        '<rect x="6" y="6" width="12" height="12" rx="2"/><rect x="10" y="10" width="4" height="4"/>'
        '<path d="M9 2v4M15 2v4M9 18v4M15 18v4M2 9h4M2 15h4M18 9h4M18 15h4"/>'
    ),
    "training": '<path d="M3 17l5-5 4 4 8-9"/><path d="M15 7h5v5"/>',
    "webhooks": (
        '<circle cx="6" cy="17" r="3"/><circle cx="18" cy="17" r="3"/><circle cx="12" cy="6" r="3"/>'
        '<path d="m10.5 8.6-3 5.8M13.5 8.6l3 5.8M9 17h6"/>'
    ),
    "api_keys": '<circle cx="8" cy="15" r="4"/><path d="m10.85 12.15 8.65-8.65M16 7l3 3M18.5 4.5l2 2"/>',
    "usage": '<path d="M4 20V11M10 20V5M16 20v-6M21 20H3"/>',
    "team": (
        '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/>'
        '<path d="M16 4.6a3.5 3.5 0 0 1 0 6.8M18 14.3a6.5 6.5 0 0 1 3.5 5.7"/>'
    ),
    "audit": (
        '<path d="M9 4h6v3H9z"/><path d="M15 5h3a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1h3"/>'
        '<path d="M9 12h6M9 16h4"/>'
    ),
    "settings": (
        '<path d="M4 6h9M17 6h3M4 12h3M11 12h9M4 18h11M19 18h1"/>'
        '<circle cx="15" cy="6" r="2"/><circle cx="9" cy="12" r="2"/><circle cx="17" cy="18" r="2"/>'
    ),
    "chevrons": '<path d="m8 9 4-4 4 4M16 15l-4 4-4-4"/>',
    "copy": (
        '<rect x="8" y="8" width="13" height="13" rx="2"/>'
        '<path d="M16 8V5a2 2 0 0 0-2-2H5a2 2 0 0 0-2 2v9a2 2 0 0 0 2 2h3"/>'
    ),
    "check": '<path d="m5 12.5 4.5 4.5L19 7.5"/>',
    "plus": '<path d="M12 5v14M5 12h14"/>',
    "logout": '<path d="M15 4h4a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1h-4M10 16l4-4-4-4M14 12H4"/>',
    "warning": '<path d="M12 3 2 20h20z"/><path d="M12 10v4M12 17h.01"/>',
    "lock": '<rect x="4" y="10" width="16" height="11" rx="2"/><path d="M8 10V7a4 4 0 0 1 8 0v3"/>',
    "clock": '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
    "building": (
        '<path d="M4 21V5a1 1 0 0 1 1-1h9a1 1 0 0 1 1 1v16M15 9h4a1 1 0 0 1 1 1v11M2 21h20M8 8h3M8 12h3M8 16h3"/>'
    ),
}


@register.simple_tag
def icon(name: str, size: int = 18) -> str:
    return format_html(
        '<svg class="icon" width="{}" height="{}" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        'stroke-width="1.75" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">'
        "{}</svg>",
        size,
        size,
        mark_safe(ICONS[name]),  # noqa: S308 - constant markup defined above
    )


# --- Money and usage ------------------------------------------------------------------------

CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}
_CENT = Decimal("0.01")


@register.filter
def money(cents: int | Decimal | None, currency: str = "usd") -> str:
    """Minor units as a price: 4900 -> "$49.00"; fractions of a cent round half up."""
    if cents is None or cents == "":
        return ""
    amount = (Decimal(cents) / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get((currency or "usd").lower())
    text = f"{abs(amount):,.2f}"
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency.upper()}"


@register.filter
def unit_price(cents: Decimal | None, currency: str = "usd") -> str:
    """A per-unit price in fractions of a cent: 0.1 -> "$0.001"."""
    if cents is None:
        return ""
    amount = (Decimal(cents) / 100).normalize()
    if amount.as_tuple().exponent > -2:  # at least whole cents: $0.10, not $0.1
        amount = amount.quantize(_CENT)
    symbol = CURRENCY_SYMBOLS.get((currency or "usd").lower(), "")
    return f"{symbol}{amount:f}" if symbol else f"{amount:f} {currency.upper()}"


@register.filter
def quantity(value: int | float | Decimal | None, style: str = "") -> str:
    """A usage quantity for reading: 1234 -> "1,234", 12.5 -> "12.5", 0.333333 -> "0.33".

    `quantity:"approx"` rounds estimates of 10 or more to whole units (834.47 -> "834").
    """
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    precision = Decimal(1) if style == "approx" and abs(number) >= 10 else _CENT
    number = number.quantize(precision, rounding=ROUND_HALF_UP)
    if number == number.to_integral_value():
        return f"{number:,.0f}"
    return f"{number:,.2f}".rstrip("0")


@register.filter
def alert_text(alert: UsageAlert) -> str:
    """The alert's headline with grouped numbers ("allowance of 50,000", not "of 50000")."""
    if alert.kind == AlertKind.SPEND_CAP:
        return f"Overage charges reached your spend cap of {money(alert.limit)} this month."
    share = "80%" if alert.kind == AlertKind.ALLOWANCE_80 else "100%"
    return f"{Meter(alert.meter).label}: {share} of this month's allowance of {quantity(alert.limit)} used."


@register.filter
def invoice_tone(status: str) -> str:
    return {"paid": "success", "open": "info", "uncollectible": "danger"}.get(status, "neutral")


@register.inclusion_tag("dashboard/billing/_banner.html", takes_context=True)
def usage_banner(context: template.Context) -> dict[str, Any]:
    """Usage alerts and payment trouble, on organization pages only (one query; none elsewhere)."""
    request = context.get("request")
    organization = getattr(request, "organization", None)
    if organization is None:
        return {"banner": None}
    from apps.dashboard.views.billing import usage_banner_state

    return {
        "banner": usage_banner_state(organization=organization),
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "can_manage": request.membership.can_manage,
        "on_usage_page": context.get("section") == "usage",
    }
