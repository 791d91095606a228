"""Console forms. Every value a staff member types is validated here, so bad input gives a message, not a 500."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import MinValueValidator

from apps.billing.models import Plan, PlanMeter
from apps.billing.plans import ALL_PRODUCTS
from apps.console.services import SUSPENDED_REASON_MAX_LENGTH
from apps.metering.models import Meter

# The largest value of a PositiveIntegerField (PostgreSQL integer): limits and credits must fit.
MAX_INTEGER = 2_147_483_647
CREDIT_REASON_MAX_LENGTH = 300  # Credit.reason
PRODUCT_CHOICES = [(product, product.capitalize()) for product in ALL_PRODUCTS]
_CURRENCY = re.compile(r"^[a-z]{3}$")


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=SUSPENDED_REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown to the organization's members on their dashboard and in API error messages.",
        error_messages={"required": "Give a reason: the organization's members will see it."},
    )


def quantity_text(value: Decimal | None) -> str:
    """1000.000000 -> "1,000"; 0.500000 -> "0.5"; None (not limited) -> "—"."""
    if value is None:
        return "—"
    return f"{Decimal(value).normalize():,f}"


def decimal_string(value: Decimal) -> str:
    """1000.000000 -> "1000": how allowances are written in the overrides JSON."""
    return f"{Decimal(value).normalize():f}"


# --- Plans -----------------------------------------------------------------------------


class PlanForm(forms.ModelForm):
    # Products are a JSON list on the model; checkboxes keep anything but known products out.
    products = forms.MultipleChoiceField(
        choices=PRODUCT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Products an organization on this plan may use.",
    )

    class Meta:
        model = Plan
        fields = (
            "code",
            "name",
            "description",
            "is_public",
            "sort_order",
            "currency",
            "monthly_price_cents",
            "has_hard_limits",
            "stripe_price_id",
            "api_rate_limit_per_minute",
            "products",
            "allows_gpu_training",
            "max_active_models",
            "max_seats",
            "max_concurrent_training_jobs",
        )

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].strip().lower()
        if not _CURRENCY.match(currency):
            raise forms.ValidationError("Use a three-letter ISO currency code, like usd.")
        return currency

    def clean_stripe_price_id(self) -> str:
        return self.cleaned_data["stripe_price_id"].strip()


class PlanMeterForm(forms.ModelForm):
    class Meta:
        model = PlanMeter
        fields = ("meter", "included_quantity", "overage_unit_price_cents", "stripe_price_id")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("included_quantity", "overage_unit_price_cents"):
            field = self.fields[name]
            field.validators.append(MinValueValidator(Decimal(0)))
            field.widget.attrs["min"] = "0"

    def clean_stripe_price_id(self) -> str:
        return self.cleaned_data["stripe_price_id"].strip()


# --- One organization's billing --------------------------------------------------------


class PlanAssignForm(forms.Form):
    plan = forms.ModelChoiceField(
        queryset=Plan.objects.order_by("sort_order", "monthly_price_cents"),
        empty_label="Choose a plan",
        error_messages={"required": "Pick a plan.", "invalid_choice": "Pick a plan from the list."},
    )


# (override key, label, smallest value) for the integer entitlements `_build_limits` reads.
INTEGER_OVERRIDES = (
    ("api_rate_limit_per_minute", "API rate limit (requests per minute)", 1),
    ("max_seats", "Seats", 0),
    ("max_active_models", "Active models", 0),
    ("max_concurrent_training_jobs", "Concurrent training jobs", 0),
)
INCLUDED_PREFIX = "included_"
_GPU_CHOICES = [("", "As the plan"), ("true", "Allowed"), ("false", "Not allowed")]


class PlanOverridesForm(forms.Form):
    """The organization's overrides of its plan, field by field; a blank field means "as the plan".

    `overrides()` returns the JSON `BillingAccount.overrides` holds: allowances as decimal
    strings under "included", integers, a boolean and a product list (the shape
    apps/billing/selectors._build_limits reads).
    """

    allows_gpu_training = forms.ChoiceField(choices=_GPU_CHOICES, required=False, label="GPU training")
    override_products = forms.BooleanField(required=False, label="Override the plan's products")
    products = forms.MultipleChoiceField(
        choices=PRODUCT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Used only when “Override the plan's products” is ticked; none ticked means no products.",
    )

    def __init__(
        self, *args: Any, plan: Plan | None = None, overrides: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        overrides = overrides or {}
        if "initial" not in kwargs:
            kwargs["initial"] = self._initial(overrides)
        super().__init__(*args, **kwargs)
        plan_included = {row.meter: row.included_quantity for row in plan.meters.all()} if plan else {}
        for meter in Meter:
            self.fields[f"{INCLUDED_PREFIX}{meter.value}"] = forms.DecimalField(
                required=False,
                min_value=0,
                max_digits=18,
                decimal_places=6,
                label=meter.label,
                widget=forms.NumberInput(
                    attrs={"placeholder": f"plan: {quantity_text(plan_included.get(meter.value))}"}
                ),
            )
        for name, label, smallest in INTEGER_OVERRIDES:
            self.fields[name] = forms.IntegerField(
                required=False,
                min_value=smallest,
                max_value=MAX_INTEGER,
                label=label,
                widget=forms.NumberInput(attrs={"placeholder": f"plan: {getattr(plan, name, '—')}"}),
            )

    @staticmethod
    def _initial(overrides: dict[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {
            f"{INCLUDED_PREFIX}{meter}": value for meter, value in (overrides.get("included") or {}).items()
        }
        initial.update({name: overrides[name] for name, _, _ in INTEGER_OVERRIDES if name in overrides})
        if "allows_gpu_training" in overrides:
            initial["allows_gpu_training"] = "true" if overrides["allows_gpu_training"] else "false"
        if "products" in overrides:
            initial["override_products"] = True
            initial["products"] = list(overrides["products"] or [])
        return initial

    @property
    def included_fields(self) -> list[forms.BoundField]:
        return [self[f"{INCLUDED_PREFIX}{meter.value}"] for meter in Meter]

    @property
    def entitlement_fields(self) -> list[forms.BoundField]:
        names = [name for name, _, _ in INTEGER_OVERRIDES]
        return [self[name] for name in (*names, "allows_gpu_training", "override_products", "products")]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # A meter we do not know would sit in the overrides forever and count nothing.
        unknown = sorted(
            key.removeprefix(INCLUDED_PREFIX)
            for key in self.data
            if key.startswith(INCLUDED_PREFIX) and key not in self.fields and self.data.get(key, "").strip()
        )
        if unknown:
            raise forms.ValidationError(
                "Unknown meter: %(unknown)s. Known meters: %(known)s.",
                code="unknown_meter",
                params={"unknown": ", ".join(unknown), "known": ", ".join(Meter.values)},
            )
        return cleaned

    def overrides(self) -> dict[str, Any]:
        data = self.cleaned_data
        overrides: dict[str, Any] = {}
        included = {
            meter.value: decimal_string(data[f"{INCLUDED_PREFIX}{meter.value}"])
            for meter in Meter
            if data.get(f"{INCLUDED_PREFIX}{meter.value}") is not None
        }
        if included:
            overrides["included"] = included
        for name, _, _ in INTEGER_OVERRIDES:
            if data.get(name) is not None:
                overrides[name] = data[name]
        if data.get("allows_gpu_training"):
            overrides["allows_gpu_training"] = data["allows_gpu_training"] == "true"
        if data.get("override_products"):
            overrides["products"] = [product for product in ALL_PRODUCTS if product in data["products"]]
        return overrides


class CreditGrantForm(forms.Form):
    amount = forms.DecimalField(
        min_value=Decimal("0.01"),
        max_value=Decimal(MAX_INTEGER) / 100,
        max_digits=10,
        decimal_places=2,
        label="Amount",
        help_text="In the plan's currency, e.g. 25.00 for $25.",
        error_messages={"required": "Give an amount.", "min_value": "A credit must be at least 0.01."},
    )
    reason = forms.CharField(
        max_length=CREDIT_REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Recorded with the credit and in the organization's audit log.",
        error_messages={"required": "Give a reason for the credit."},
    )

    @property
    def amount_cents(self) -> int:
        return int(self.cleaned_data["amount"] * 100)
