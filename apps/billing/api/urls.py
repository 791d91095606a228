"""/api/v1 routes of this app, as (pattern, view, name); see apps/config/api_urls.py."""

from apps.billing.api import views

ROUTES: list = [
    ("plans", views.PlanListApi, "plan-list"),
    ("billing", views.BillingDetailApi, "billing-detail"),
    ("billing/invoices", views.InvoiceListApi, "invoice-list"),
    ("billing/checkout", views.CheckoutSessionApi, "billing-checkout"),
    ("billing/portal", views.PortalSessionApi, "billing-portal"),
]
