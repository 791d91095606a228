from datetime import timedelta

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.billing import selectors, services
from apps.billing.api.serializers import (
    BillingOutput,
    CheckoutInput,
    InvoiceOutput,
    PlanOutput,
    PortalInput,
    SessionUrlOutput,
)
from apps.billing.models import Invoice
from apps.core.api import TenantApi
from apps.core.schema import paginated


def _usage_page_url(organization) -> str:
    return f"{settings.SITE_URL}/o/{organization.slug}/usage/"


class PlanListApi(TenantApi):
    """The public plans: prices, allowances per meter, rate limits and entitlements."""

    required_scopes = {"GET": None}
    pagination_class = None

    @extend_schema(responses=PlanOutput(many=True), operation_id="plans_list", summary="List public plans")
    def get(self, request):
        return Response(PlanOutput(selectors.plan_list(public_only=True), many=True).data)


class BillingDetailApi(TenantApi):
    """The organization's plan, subscription, effective limits and upcoming invoice estimate."""

    required_scopes = {"GET": "billing:read"}

    @extend_schema(responses=BillingOutput, operation_id="billing_get", summary="Plan, subscription and limits")
    def get(self, request):
        account = services.billing_account_ensure(organization=self.organization)
        limits = selectors.organization_limits(organization=self.organization)
        grace_ends = (
            account.past_due_since + timedelta(days=settings.BILLING_GRACE_PERIOD_DAYS)
            if account.past_due_since
            else None
        )
        body = {
            "payments_configured": selectors.billing_is_configured(),
            "plan": account.plan,
            "subscription": {
                "status": account.subscription_status,
                "current_period_start": account.current_period_start,
                "current_period_end": account.current_period_end,
                "cancel_at_period_end": account.cancel_at_period_end,
                "past_due_since": account.past_due_since,
                "grace_period_ends_at": grace_ends,
            },
            "limits": limits,
            "upcoming_invoice": selectors.invoice_estimate(organization=self.organization, limits=limits),
        }
        return Response(BillingOutput(body).data)


class InvoiceListApi(TenantApi):
    """Invoices as last read from Stripe, newest first."""

    required_scopes = {"GET": "billing:read"}

    @extend_schema(responses=paginated(InvoiceOutput), operation_id="invoices_list", summary="List invoices")
    def get(self, request):
        invoices = Invoice.objects.for_org(self.organization).order_by("-issued_at", "-created_at")
        return self.paginate(invoices, InvoiceOutput)


class CheckoutSessionApi(TenantApi):
    """Start Stripe Checkout for a paid plan; send the customer's browser to the returned URL."""

    required_scopes = {"POST": "admin"}

    @extend_schema(
        request=CheckoutInput,
        responses={201: SessionUrlOutput},
        operation_id="billing_checkout",
        summary="Create a Checkout Session to subscribe to a plan",
    )
    def post(self, request):
        data = self.parse(CheckoutInput, request.data)
        back = _usage_page_url(self.organization)
        url = services.checkout_session_start(
            organization=self.organization,
            plan_code=data["plan"],
            actor=self.actor,
            success_url=data.get("success_url") or f"{back}?checkout=success",
            cancel_url=data.get("cancel_url") or f"{back}?checkout=cancelled",
        )
        return Response({"url": url}, status=status.HTTP_201_CREATED)


class PortalSessionApi(TenantApi):
    """Open the Stripe Billing Portal: change card or plan, cancel, download invoices."""

    required_scopes = {"POST": "admin"}
    allowed_when_read_only = True

    @extend_schema(
        request=PortalInput,
        responses={201: SessionUrlOutput},
        operation_id="billing_portal",
        summary="Create a Billing Portal session",
    )
    def post(self, request):
        data = self.parse(PortalInput, request.data)
        url = services.portal_session_start(
            organization=self.organization,
            actor=self.actor,
            return_url=data.get("return_url") or _usage_page_url(self.organization),
        )
        return Response({"url": url}, status=status.HTTP_201_CREATED)
