from __future__ import annotations

from rest_framework import serializers


class PlanMeterOutput(serializers.Serializer):
    meter = serializers.CharField()
    included_quantity = serializers.DecimalField(max_digits=18, decimal_places=6)
    overage_unit_price_cents = serializers.DecimalField(max_digits=12, decimal_places=6)


class PlanOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    currency = serializers.CharField()
    monthly_price_cents = serializers.IntegerField()
    has_hard_limits = serializers.BooleanField()
    api_rate_limit_per_minute = serializers.IntegerField()
    products = serializers.ListField(child=serializers.CharField())
    allows_gpu_training = serializers.BooleanField()
    max_active_models = serializers.IntegerField()
    max_seats = serializers.IntegerField()
    max_concurrent_training_jobs = serializers.IntegerField()
    meters = PlanMeterOutput(many=True, source="meters.all")


class LimitsOutput(serializers.Serializer):
    api_rate_limit_per_minute = serializers.IntegerField()
    products = serializers.ListField(child=serializers.CharField())
    allows_gpu_training = serializers.BooleanField()
    max_active_models = serializers.IntegerField()
    max_seats = serializers.IntegerField()
    max_concurrent_training_jobs = serializers.IntegerField()
    spend_cap_cents = serializers.IntegerField(allow_null=True)
    is_read_only = serializers.BooleanField(help_text="Past due beyond the grace period: reads only until paid.")


class InvoiceEstimateOutput(serializers.Serializer):
    currency = serializers.CharField()
    plan_cents = serializers.IntegerField()
    overage_cents = serializers.DecimalField(max_digits=18, decimal_places=0)
    total_cents = serializers.DecimalField(max_digits=18, decimal_places=0)
    period_end = serializers.DateTimeField()
    source = serializers.CharField(help_text="`stripe` (Stripe's invoice preview) or `projection` (ours).")


class SubscriptionOutput(serializers.Serializer):
    status = serializers.CharField()
    current_period_start = serializers.DateTimeField(allow_null=True)
    current_period_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    past_due_since = serializers.DateTimeField(allow_null=True)
    grace_period_ends_at = serializers.DateTimeField(allow_null=True)


class BillingOutput(serializers.Serializer):
    payments_configured = serializers.BooleanField(help_text="False: billing runs offline (no Stripe keys).")
    plan = PlanOutput()
    subscription = SubscriptionOutput()
    limits = LimitsOutput()
    upcoming_invoice = InvoiceEstimateOutput()


class InvoiceOutput(serializers.Serializer):
    id = serializers.CharField(source="stripe_invoice_id")
    number = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    total_cents = serializers.IntegerField()
    amount_due_cents = serializers.IntegerField()
    amount_paid_cents = serializers.IntegerField()
    period_start = serializers.DateTimeField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)
    issued_at = serializers.DateTimeField(allow_null=True)
    hosted_invoice_url = serializers.CharField()
    invoice_pdf_url = serializers.CharField()


class CheckoutInput(serializers.Serializer):
    plan = serializers.SlugField(help_text="A public paid plan's code, e.g. `starter`.")
    success_url = serializers.URLField(required=False, help_text="Default: the dashboard's usage page.")
    cancel_url = serializers.URLField(required=False, help_text="Default: the dashboard's usage page.")


class PortalInput(serializers.Serializer):
    return_url = serializers.URLField(required=False, help_text="Default: the dashboard's usage page.")


class SessionUrlOutput(serializers.Serializer):
    url = serializers.URLField(help_text="Send the customer's browser here.")
