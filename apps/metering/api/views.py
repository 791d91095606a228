from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.billing.selectors import organization_limits, period_bounds
from apps.core.api import TenantApi
from apps.metering import selectors
from apps.metering.api.serializers import UsageFilter, UsageOutput


class UsageApi(TenantApi):
    """Usage of one billing period (a UTC calendar month) per meter against the plan, or per day."""

    required_scopes = {"GET": "billing:read"}

    @extend_schema(
        parameters=[UsageFilter],
        responses=UsageOutput,
        operation_id="usage_get",
        summary="Usage per meter (with allowance and projection) or per meter and day",
    )
    def get(self, request):
        filters = self.parse(UsageFilter, request.query_params)
        start, end = period_bounds(filters["period"])
        limits = organization_limits(organization=self.organization)
        meters = sorted(filters.get("meter") or [])
        body = {
            "period_start": start,
            "period_end": end,
            "plan": limits.plan_code,
            "has_hard_limits": limits.has_hard_limits,
            "group_by": filters["group_by"],
        }
        if filters["group_by"] == "day":
            body["days"] = selectors.usage_daily(organization=self.organization, start=start, end=end, meters=meters)
        else:
            summaries = selectors.usage_summary(
                organization=self.organization, limits=limits, period_start=start, period_end=end
            )
            body["meters"] = [summary for summary in summaries if not meters or summary.meter in meters]
        return Response(UsageOutput(body).data)
