from __future__ import annotations

import re
from datetime import UTC, datetime

from rest_framework import serializers

from apps.metering.models import Meter

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class UsageFilter(serializers.Serializer):
    period = serializers.CharField(
        required=False,
        default="current",
        help_text="`current` (default) or a month as `YYYY-MM` (UTC calendar month, the billing period).",
    )
    group_by = serializers.ChoiceField(
        choices=["meter", "day"],
        required=False,
        default="meter",
        help_text="`meter`: one total per meter with the allowance; `day`: one row per meter and UTC day.",
    )
    meter = serializers.MultipleChoiceField(
        choices=Meter.values, required=False, help_text="Only these meters (repeat the parameter)."
    )

    def validate_period(self, value: str) -> datetime | None:
        if value == "current":
            return None
        if not _MONTH.match(value):
            raise serializers.ValidationError("Use `current` or a month as YYYY-MM, e.g. 2026-11.")
        year, month = (int(part) for part in value.split("-"))
        if not 2000 <= year <= 2100:
            raise serializers.ValidationError("The year must be between 2000 and 2100.")
        return datetime(year, month, 1, tzinfo=UTC)


class MeterUsageOutput(serializers.Serializer):
    meter = serializers.CharField()
    label = serializers.CharField()
    used = serializers.DecimalField(max_digits=18, decimal_places=6, coerce_to_string=True)
    included = serializers.DecimalField(
        max_digits=18,
        decimal_places=6,
        allow_null=True,
        help_text="The plan's allowance this period; null when not limited.",
    )
    percent_used = serializers.FloatField(allow_null=True)
    projected = serializers.DecimalField(
        max_digits=18, decimal_places=2, help_text="Straight-line projection to the end of the period."
    )
    projected_overage_cents = serializers.DecimalField(max_digits=18, decimal_places=6)


class DailyUsageOutput(serializers.Serializer):
    day = serializers.DateField()
    meter = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=18, decimal_places=6)


class UsageOutput(serializers.Serializer):
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    plan = serializers.CharField()
    has_hard_limits = serializers.BooleanField(help_text="True: usage stops at the allowance with HTTP 402.")
    group_by = serializers.CharField()
    meters = MeterUsageOutput(many=True, required=False)
    days = DailyUsageOutput(many=True, required=False)
