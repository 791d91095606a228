"""Billing in the console: plans, an organization's billing, usage across organizations, Stripe events."""

import json
import logging
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import Client
from django.utils.html import escape

from apps.audit.models import AuditEntry
from apps.billing.models import BillingAccount, Credit, Plan, PlanMeter, StripeEvent
from apps.billing.selectors import organization_limits, organization_limits_forget
from apps.console.site import console_site
from apps.core.tenancy import tenant_context
from apps.metering.models import UsageCounter, UsageEvent
from apps.metering.services import usage_event_record
from tests.apps.console.conftest import console_url

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"
NO_STRIPE = "Payments are not configured on this installation (no Stripe keys); plans and quotas still apply."


@pytest.fixture(autouse=True)
def _no_stripe(settings):
    settings.STRIPE_SECRET_KEY = ""


def _plan(code):
    return Plan.objects.get(code=code)


def _account(organization, plan_code="free", **fields):
    with tenant_context(organization.id):
        account = BillingAccount.objects.create(organization=organization, plan=_plan(plan_code), **fields)
    organization_limits_forget(organization=organization)
    return account


def _stored_account(organization):
    with tenant_context(organization.id):
        return BillingAccount.objects.for_org(organization).select_related("plan").first()


def _limits(organization):
    with tenant_context(organization.id):
        return organization_limits(organization=organization)


def _record(organization, meter, quantity, key):
    with tenant_context(organization.id):
        usage_event_record(organization=organization, meter=meter, quantity=quantity, idempotency_key=key)


def _audit(organization, action):
    with tenant_context(organization.id):
        return list(AuditEntry.objects.for_org(organization).filter(action=action).order_by("created_at"))


def _credits(organization):
    with tenant_context(organization.id):
        return list(Credit.objects.for_org(organization).order_by("created_at"))


def _messages(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def _event(stripe_event_id, *, event_type="invoice.paid", status="failed", customer="cus_nobody", **fields):
    payload = {
        "id": stripe_event_id,
        "type": event_type,
        "data": {"object": {"id": "in_123", "object": "invoice", "customer": customer}},
    }
    return StripeEvent.objects.create(
        stripe_event_id=stripe_event_id, event_type=event_type, payload=payload, status=status, **fields
    )


def _plan_post_data(plan, **changes):
    """The change form of `plan` as the browser posts it, with `changes` applied."""
    data = {
        "name": plan.name,
        "description": plan.description,
        "sort_order": plan.sort_order,
        "currency": plan.currency,
        "monthly_price_cents": plan.monthly_price_cents,
        "stripe_price_id": plan.stripe_price_id,
        "api_rate_limit_per_minute": plan.api_rate_limit_per_minute,
        "products": list(plan.products),
        "max_active_models": plan.max_active_models,
        "max_seats": plan.max_seats,
        "max_concurrent_training_jobs": plan.max_concurrent_training_jobs,
    }
    for flag in ("is_public", "has_hard_limits", "allows_gpu_training"):
        if getattr(plan, flag):
            data[flag] = "on"
    meters = list(plan.meters.order_by("meter"))
    data.update(
        {
            "meters-TOTAL_FORMS": len(meters),
            "meters-INITIAL_FORMS": len(meters),
            "meters-MIN_NUM_FORMS": 0,
            "meters-MAX_NUM_FORMS": 1000,
        }
    )
    for index, meter in enumerate(meters):
        data.update(
            {
                f"meters-{index}-id": meter.pk,
                f"meters-{index}-plan": plan.pk,
                f"meters-{index}-meter": meter.meter,
                f"meters-{index}-included_quantity": meter.included_quantity,
                f"meters-{index}-overage_unit_price_cents": meter.overage_unit_price_cents,
                f"meters-{index}-stripe_price_id": meter.stripe_price_id,
            }
        )
    data.update(changes)
    return data


def _meter_index(plan, meter):
    return [row.meter for row in plan.meters.order_by("meter")].index(meter)


# --- Plans -----------------------------------------------------------------------------


def test_staff_sees_every_plan_with_its_price_and_how_many_accounts_use_it(staff_client, org, other_org):
    _account(org, "starter")
    _account(other_org, "starter")

    response = staff_client.get(console_url("billing_plan_changelist"))

    assert response.status_code == 200
    rows = {plan.code: plan.account_total for plan in response.context["cl"].result_list}
    assert rows == {"free": 0, "starter": 2, "pro": 0, "enterprise": 0}
    html = response.content.decode()
    assert "$49.00" in html
    assert "$2,000.00" in html


def test_plan_page_shows_its_meters_inline(staff_client):
    starter = _plan("starter")

    response = staff_client.get(console_url("billing_plan_change", starter.pk))

    assert response.status_code == 200
    [meters] = response.context["inline_admin_formsets"]
    rows = {
        form.instance.meter: (form.instance.included_quantity, form.instance.overage_unit_price_cents)
        for form in meters.formset.forms
    }
    assert rows == {
        "api_predictions": (Decimal("50000"), Decimal("0.1")),
        "documents_processed": (Decimal("50000"), Decimal("0.1")),
        "recommendation_requests": (Decimal("100000"), Decimal("0.05")),
        "training_minutes_cpu": (Decimal("600"), Decimal("2")),
        "training_minutes_gpu": (Decimal("60"), Decimal("10")),
        "storage_mb": (Decimal("5000"), Decimal("0.01")),
    }


def test_editing_a_plan_and_its_meters_reaches_the_organizations_on_it(
    staff_client, org, other_org, django_capture_on_commit_callbacks
):
    _account(org, "starter")
    assert _limits(org).api_rate_limit_per_minute == 600  # now cached
    assert _limits(other_org).api_rate_limit_per_minute == 60  # Free, cached
    starter = _plan("starter")
    index = _meter_index(starter, "api_predictions")
    data = _plan_post_data(
        starter,
        api_rate_limit_per_minute=900,
        monthly_price_cents=5900,
        stripe_price_id=" price_starter_monthly ",
        products=["support", "sentiment"],
        **{
            f"meters-{index}-included_quantity": "60000",
            f"meters-{index}-overage_unit_price_cents": "0.08",
            f"meters-{index}-stripe_price_id": "price_starter_predictions",
        },
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(console_url("billing_plan_change", starter.pk), data)

    assert response.status_code == 302
    assert response["Location"] == console_url("billing_plan_changelist")
    starter.refresh_from_db()
    assert (starter.api_rate_limit_per_minute, starter.monthly_price_cents, starter.stripe_price_id) == (
        900,
        5900,
        "price_starter_monthly",
    )
    assert starter.products == ["support", "sentiment"]
    predictions = PlanMeter.objects.get(plan=starter, meter="api_predictions")
    assert (predictions.included_quantity, predictions.overage_unit_price_cents, predictions.stripe_price_id) == (
        Decimal("60000"),
        Decimal("0.08"),
        "price_starter_predictions",
    )
    limits = _limits(org)
    assert limits.api_rate_limit_per_minute == 900
    assert limits.products == ("support", "sentiment")
    assert limits.included("api_predictions") == Decimal("60000")
    assert limits.meters["api_predictions"].overage_unit_price_cents == Decimal("0.08")
    assert _limits(other_org).api_rate_limit_per_minute == 60


def test_editing_free_reaches_organizations_without_a_billing_account(
    staff_client, org, django_capture_on_commit_callbacks
):
    assert _limits(org).api_rate_limit_per_minute == 60  # cached, no account
    free = _plan("free")

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            console_url("billing_plan_change", free.pk), _plan_post_data(free, api_rate_limit_per_minute=90)
        )

    assert response.status_code == 302
    assert _limits(org).api_rate_limit_per_minute == 90
    assert _stored_account(org) is None


def test_the_plan_code_cannot_be_changed(staff_client):
    starter = _plan("starter")

    response = staff_client.post(
        console_url("billing_plan_change", starter.pk), _plan_post_data(starter, code="renamed")
    )

    assert response.status_code == 302
    starter.refresh_from_db()
    assert starter.code == "starter"


def test_staff_add_a_plan_with_meters(staff_client):
    data = {
        "code": "scale",
        "name": "Scale",
        "description": "Between Pro and Enterprise.",
        "sort_order": 3,
        "currency": "USD",
        "monthly_price_cents": 99900,
        "stripe_price_id": "price_scale",
        "api_rate_limit_per_minute": 5000,
        "products": ["support", "recommendations"],
        "allows_gpu_training": "on",
        "max_active_models": 100,
        "max_seats": 100,
        "max_concurrent_training_jobs": 6,
        "meters-TOTAL_FORMS": 1,
        "meters-INITIAL_FORMS": 0,
        "meters-MIN_NUM_FORMS": 0,
        "meters-MAX_NUM_FORMS": 1000,
        "meters-0-meter": "api_predictions",
        "meters-0-included_quantity": "2000000",
        "meters-0-overage_unit_price_cents": "0.05",
        "meters-0-stripe_price_id": "price_scale_predictions",
    }

    response = staff_client.post(console_url("billing_plan_add"), data)

    assert response.status_code == 302
    scale = _plan("scale")
    assert (scale.name, scale.currency, scale.monthly_price_cents, scale.is_public, scale.has_hard_limits) == (
        "Scale",
        "usd",
        99900,
        False,
        False,
    )
    assert scale.products == ["support", "recommendations"]
    assert scale.allows_gpu_training is True
    assert [
        (row.meter, row.included_quantity, row.overage_unit_price_cents, row.stripe_price_id)
        for row in scale.meters.all()
    ] == [("api_predictions", Decimal("2000000"), Decimal("0.05"), "price_scale_predictions")]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"meters-{index}-included_quantity": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"meters-{index}-overage_unit_price_cents": "-0.5"}, "Ensure this value is greater than or equal to 0."),
        ({"meters-{index}-included_quantity": "abc"}, "Enter a number."),
        ({"meters-{index}-meter": "documents_processed"}, "Please correct the duplicate data for meter."),
        (
            {"meters-{index}-meter": "gpu_hours"},
            "Select a valid choice. gpu_hours is not one of the available choices.",
        ),
        ({"currency": "u$"}, "Use a three-letter ISO currency code, like usd."),
        ({"monthly_price_cents": "-100"}, "Ensure this value is greater than or equal to 0."),
        ({"products": ["support", "crystal_ball"]}, "Select a valid choice. crystal_ball is not one of the available"),
    ],
)
def test_bad_plan_values_are_refused_and_change_nothing(staff_client, changes, error):
    starter = _plan("starter")
    index = _meter_index(starter, "api_predictions")
    before = (starter.updated_at, list(starter.meters.values_list("meter", "included_quantity", "updated_at")))
    data = _plan_post_data(starter, **{key.format(index=index): value for key, value in changes.items()})

    response = staff_client.post(console_url("billing_plan_change", starter.pk), data)

    assert response.status_code == 200
    assert error in response.content.decode()
    starter.refresh_from_db()
    assert (starter.updated_at, list(starter.meters.values_list("meter", "included_quantity", "updated_at"))) == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_plan_in_use_cannot_be_deleted(staff_client, org, other_org, method):
    _account(org, "starter")
    _account(other_org, "starter")
    starter = _plan("starter")

    response = getattr(staff_client, method)(console_url("billing_plan_delete", starter.pk), {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == console_url("billing_plan_change", starter.pk)
    assert _messages(response) == [
        "Starter cannot be deleted: 2 organization(s) are on it (Acme Bank, Lear Credit Union). "
        "Assign them another plan first."
    ]
    assert Plan.objects.filter(code="starter").exists()
    assert PlanMeter.objects.filter(plan=starter).count() == 6


def test_free_cannot_be_deleted_even_unused(staff_client):
    free = _plan("free")

    response = staff_client.post(console_url("billing_plan_delete", free.pk), {"post": "yes"})

    assert response.status_code == 302
    assert _messages(response) == [
        "Free is the plan of every organization without a billing account; it cannot be deleted."
    ]
    assert Plan.objects.filter(code="free").exists()


def test_an_unused_plan_can_be_deleted(staff_client, org):
    _account(org, "starter")
    pro = _plan("pro")

    response = staff_client.post(console_url("billing_plan_delete", pro.pk), {"post": "yes"})

    assert response.status_code == 302
    assert response["Location"] == console_url("billing_plan_changelist")
    assert sorted(Plan.objects.values_list("code", flat=True)) == ["enterprise", "free", "starter"]
    assert PlanMeter.objects.filter(plan_id=pro.pk).count() == 0


# --- One organization's billing --------------------------------------------------------


def test_billing_page_shows_plan_subscription_usage_and_credits(staff_client, org, other_org, in_org):
    _account(
        org,
        "starter",
        stripe_customer_id="cus_acme",
        stripe_subscription_id="sub_acme",
        subscription_status="active",
        spend_cap_cents=10000,
        overrides={"included": {"api_predictions": "60000"}, "max_seats": 12},
    )
    _record(org, "api_predictions", 1200, "acme-1")
    _record(org, "training_minutes_gpu", 75, "acme-2")
    _record(other_org, "api_predictions", 4321, "lear-1")
    with in_org(org):
        Credit.objects.create(organization=org, amount_cents=2500, reason="Outage credit", granted_by_label="x")
    with in_org(other_org):
        Credit.objects.create(organization=other_org, amount_cents=700, reason="Lear goodwill", granted_by_label="x")

    response = staff_client.get(console_url("accounts_organization_billing", org.pk))

    assert response.status_code == 200
    usage = {
        row.meter: (row.used_text, row.included_text, row.percent_text, row.is_overridden)
        for row in response.context["usage"]
    }
    assert usage == {
        "api_predictions": ("1,200", "60,000", "2.0%", True),
        "documents_processed": ("0", "50,000", "0.0%", False),
        "recommendation_requests": ("0", "100,000", "0.0%", False),
        "training_minutes_cpu": ("0", "600", "0.0%", False),
        "training_minutes_gpu": ("75", "60", "125.0%", False),
        "storage_mb": ("0", "5,000", "0.0%", False),
    }
    entitlements = {row["label"]: (row["value"], row["is_overridden"]) for row in response.context["entitlements"]}
    assert entitlements["Seats"] == (12, True)
    assert entitlements["API rate limit (per minute)"] == (600, False)
    assert response.context["spend_cap"] == "$100.00"
    assert response.context["credit_total"] == "$25.00"
    assert response.context["credit_count"] == 1
    html = response.content.decode()
    assert "cus_acme" in html
    assert "sub_acme" in html
    assert "Outage credit" in html
    assert "Lear goodwill" not in html
    assert "4,321" not in html


def test_billing_page_of_an_organization_without_an_account_shows_free_and_creates_nothing(staff_client, org):
    response = staff_client.get(console_url("accounts_organization_billing", org.pk))

    assert response.status_code == 200
    assert response.context["plan"].code == "free"
    assert response.context["account"] is None
    assert _stored_account(org) is None


def test_organization_page_links_to_its_billing(staff_client, org):
    _account(org, "pro", subscription_status="past_due")

    response = staff_client.get(console_url("accounts_organization_change", org.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{console_url("accounts_organization_billing", org.pk)}"' in html
    assert 'Pro <span class="quiet">(pro)</span>' in html
    assert '<span class="tsr-badge tsr-badge--warning" title="">Past due</span>' in html


def test_assigning_a_plan_changes_the_organizations_limits_and_is_audited(staff_client, staff_user, org, other_org):
    assert _limits(org).plan_code == "free"  # now cached
    pro = _plan("pro")

    response = staff_client.post(console_url("accounts_organization_billing_plan", org.pk), {"plan": pro.pk})

    assert response.status_code == 302
    assert response["Location"] == console_url("accounts_organization_billing", org.pk)
    assert _messages(response) == ["Moved Acme Bank from Free to Pro."]
    limits = _limits(org)
    assert (limits.plan_code, limits.api_rate_limit_per_minute, limits.max_seats) == ("pro", 3000, 50)
    assert limits.included("api_predictions") == Decimal("500000")
    assert _limits(other_org).plan_code == "free"
    [entry] = _audit(org, "billing.plan_assigned")
    assert (entry.via, entry.actor_user_id, entry.target_label) == ("console", staff_user.id, "Pro")
    assert entry.metadata == {"from": "free", "to": "pro"}


def test_assigning_a_plan_under_a_live_subscription_warns_that_stripe_decides(staff_client, org):
    _account(
        org, "starter", stripe_customer_id="cus_acme", stripe_subscription_id="sub_1", subscription_status="active"
    )

    response = staff_client.post(console_url("accounts_organization_billing_plan", org.pk), {"plan": _plan("pro").pk})

    assert _messages(response) == [
        "Moved Acme Bank from Starter to Pro.",
        "Acme Bank has a Stripe subscription (sub_1): the next sync from Stripe sets the plan the subscription is "
        "for. Change the subscription in Stripe as well.",
    ]
    assert _stored_account(org).plan.code == "pro"


@pytest.mark.parametrize("value", ["", "abc", HUGE, "-1"])
def test_assigning_no_or_an_unknown_plan_changes_nothing(staff_client, org, value):
    response = staff_client.post(console_url("accounts_organization_billing_plan", org.pk), {"plan": value})

    assert response.status_code == 200
    assert _messages(response) == ["The plan was not changed: pick a plan from the list."]
    assert _stored_account(org) is None
    assert _audit(org, "billing.plan_assigned") == []


def test_overrides_are_saved_from_validated_fields_and_apply_to_the_limits(staff_client, staff_user, org):
    _account(org, "starter")
    assert _limits(org).max_seats == 10  # now cached
    data = {
        "included_api_predictions": "75000",
        "included_training_minutes_gpu": "12.5",
        "max_seats": "25",
        "api_rate_limit_per_minute": "1200",
        "allows_gpu_training": "false",
        "override_products": "on",
        "products": ["sentiment"],
        "max_active_models": "",
    }

    response = staff_client.post(console_url("accounts_organization_billing_overrides", org.pk), data)

    assert response.status_code == 302
    assert _messages(response) == ["Saved the overrides of Acme Bank."]
    expected = {
        "included": {"api_predictions": "75000", "training_minutes_gpu": "12.5"},
        "max_seats": 25,
        "api_rate_limit_per_minute": 1200,
        "allows_gpu_training": False,
        "products": ["sentiment"],
    }
    assert _stored_account(org).overrides == expected
    limits = _limits(org)
    assert limits.included("api_predictions") == Decimal("75000")
    assert limits.included("training_minutes_gpu") == Decimal("12.5")
    assert limits.included("documents_processed") == Decimal("50000")
    assert (limits.max_seats, limits.api_rate_limit_per_minute, limits.max_active_models) == (25, 1200, 10)
    assert limits.allows_gpu_training is False
    assert limits.products == ("sentiment",)
    [entry] = _audit(org, "billing.overrides_changed")
    assert (entry.via, entry.actor_user_id) == ("console", staff_user.id)
    assert entry.metadata == {"from": {}, "to": expected}


def test_the_overrides_form_shows_the_current_overrides(staff_client, org):
    _account(org, "starter", overrides={"included": {"api_predictions": "75000"}, "allows_gpu_training": True})

    response = staff_client.get(console_url("accounts_organization_billing", org.pk))

    form = response.context["overrides_form"]
    assert form["included_api_predictions"].value() == "75000"
    assert form["allows_gpu_training"].value() == "true"
    assert form["max_seats"].value() is None
    assert 'placeholder="plan: 50,000"' in str(form["included_documents_processed"])


def test_blank_overrides_clear_them(staff_client, org, django_capture_on_commit_callbacks):
    _account(org, "starter", overrides={"max_seats": 99})

    response = staff_client.post(console_url("accounts_organization_billing_overrides", org.pk), {"max_seats": ""})

    assert _messages(response) == ["Cleared the overrides of Acme Bank."]
    assert _stored_account(org).overrides == {}
    assert _limits(org).max_seats == 10


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"included_api_predictions": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"included_api_predictions": "lots"}, "Enter a number."),
        ({"included_api_predictions": "NaN"}, "Enter a number."),
        ({"included_api_predictions": "1.0000001"}, "Ensure that there are no more than 6 decimal places."),
        ({"max_seats": "-3"}, "Ensure this value is greater than or equal to 0."),
        ({"max_seats": "2.5"}, "Enter a whole number."),
        ({"api_rate_limit_per_minute": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"max_active_models": HUGE}, "Ensure this value is less than or equal to 2147483647."),
        ({"allows_gpu_training": "maybe"}, "Select a valid choice. maybe is not one of the available choices."),
        ({"override_products": "on", "products": ["telepathy"]}, "Select a valid choice. telepathy is not one of"),
        (
            {"included_gpu_hours": "10"},
            "Unknown meter: gpu_hours. Known meters: api_predictions, documents_processed, recommendation_requests, "
            "training_minutes_cpu, training_minutes_gpu, storage_mb, seats.",
        ),
    ],
)
def test_bad_overrides_give_a_message_and_change_nothing(staff_client, org, data, error):
    previous = {"included": {"api_predictions": "60000"}, "max_seats": 12}
    _account(org, "starter", overrides=previous)

    response = staff_client.post(console_url("accounts_organization_billing_overrides", org.pk), data)

    assert response.status_code == 200
    assert _messages(response) == ["The overrides were not saved: correct the fields below."]
    assert escape(error) in response.content.decode()
    assert _stored_account(org).overrides == previous
    assert _audit(org, "billing.overrides_changed") == []


def test_granting_a_credit_records_it_and_audits_it(staff_client, staff_user, org, other_org):
    response = staff_client.post(
        console_url("accounts_organization_billing_credit", org.pk),
        {"amount": "25.50", "reason": "  Outage on 3 March  "},
    )

    assert response.status_code == 302
    assert _messages(response) == ["Granted Acme Bank a credit of $25.50."]
    [credit] = _credits(org)
    assert (credit.amount_cents, credit.currency, credit.reason, credit.granted_by_label) == (
        2550,
        "usd",
        "Outage on 3 March",
        "Tessera staff operator@tessera.example",
    )
    [entry] = _audit(org, "billing.credit_granted")
    assert (entry.via, entry.actor_user_id, entry.target_type, entry.target_id) == (
        "console",
        staff_user.id,
        "billing.credit",
        str(credit.id),
    )
    assert entry.metadata == {"amount_cents": 2550, "reason": "Outage on 3 March"}
    assert _credits(other_org) == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"amount": "0", "reason": "x"}, "A credit must be at least 0.01."),
        ({"amount": "-5", "reason": "x"}, "A credit must be at least 0.01."),
        ({"amount": "abc", "reason": "x"}, "Enter a number."),
        ({"amount": "1.234", "reason": "x"}, "Ensure that there are no more than 2 decimal places."),
        (
            {"amount": "999999999", "reason": "x"},
            "Ensure that there are no more than 8 digits before the decimal point.",
        ),
        ({"amount": "30000000", "reason": "x"}, "Ensure this value is less than or equal to 21474836.47."),
        ({"amount": "", "reason": "x"}, "Give an amount."),
        ({"amount": "10", "reason": "   "}, "Give a reason for the credit."),
        ({"amount": "10", "reason": "r" * 301}, "Ensure this value has at most 300 characters (it has 301)."),
    ],
)
def test_bad_credits_give_a_message_and_grant_nothing(staff_client, org, data, error):
    response = staff_client.post(console_url("accounts_organization_billing_credit", org.pk), data)

    assert response.status_code == 200
    assert _messages(response) == ["No credit was granted: correct the fields below."]
    assert escape(error) in response.content.decode()
    assert _credits(org) == []
    assert _audit(org, "billing.credit_granted") == []


@pytest.mark.parametrize("action", ["billing", "billing_plan", "billing_overrides", "billing_credit"])
@pytest.mark.parametrize("object_id", ["abc", HUGE])
def test_billing_urls_of_an_unknown_organization_redirect(staff_client, org, action, object_id):
    url = f"/console/accounts/organization/{object_id}/{action.replace('_', '/')}/"

    response = staff_client.post(url, {"plan": _plan("pro").pk, "amount": "5", "reason": "x"})

    assert response.status_code == 302
    assert response["Location"] == console_url("accounts_organization_changelist")


@pytest.mark.parametrize("action", ["billing_plan", "billing_overrides", "billing_credit"])
def test_billing_action_urls_answer_a_get_with_the_billing_page(staff_client, org, action):
    response = staff_client.get(console_url(f"accounts_organization_{action}", org.pk))

    assert response.status_code == 302
    assert response["Location"] == console_url("accounts_organization_billing", org.pk)


# --- Usage across organizations --------------------------------------------------------


@pytest.fixture
def usage(org, other_org):
    """Acme on Free (1,000 predictions included), Lear on Starter (50,000)."""
    _account(other_org, "starter")
    _record(org, "api_predictions", 600, "acme-1")
    _record(org, "api_predictions", 150, "acme-2")
    _record(other_org, "api_predictions", 45000, "lear-1")
    _record(other_org, "documents_processed", 100, "lear-2")


def _usage_rows(response):
    return [
        (
            row["usage"].organization.name,
            row["usage"].plan_name,
            row["usage"].highest_percent_text,
            [(cell.used_text, cell.included_text, cell.percent_text) if cell else None for cell in row["cells"]],
        )
        for row in response.context["rows"]
    ]


def test_usage_across_organizations_shows_each_ones_use_against_its_allowance(staff_client, org, other_org, usage):
    response = staff_client.get(console_url("accounts_organization_usage"))

    assert response.status_code == 200
    assert [column["meter"] for column in response.context["columns"]] == ["api_predictions", "documents_processed"]
    assert _usage_rows(response) == [
        ("Lear Credit Union", "Starter", "90.0%", [("45,000", "50,000", "90.0%"), ("100", "50,000", "0.2%")]),
        ("Acme Bank", "Free", "75.0%", [("750", "1,000", "75.0%"), None]),
    ]
    assert response.context["organization_total"] == 2
    html = response.content.decode()
    assert f'<a href="{console_url("accounts_organization_billing", org.pk)}">Acme Bank</a>' in html
    assert "750 / 1,000" in html


@pytest.mark.parametrize(
    ("order", "names"),
    [
        ("api_predictions", ["Lear Credit Union", "Acme Bank"]),
        ("documents_processed", ["Lear Credit Union", "Acme Bank"]),
        ("name", ["Acme Bank", "Lear Credit Union"]),
        ("percent", ["Lear Credit Union", "Acme Bank"]),
        ("bogus", ["Lear Credit Union", "Acme Bank"]),
    ],
)
def test_usage_across_organizations_sorts_by_the_biggest_user(staff_client, usage, order, names):
    response = staff_client.get(console_url("accounts_organization_usage"), {"o": order, "p": "abc"})

    assert response.status_code == 200
    assert [row["usage"].organization.name for row in response.context["rows"]] == names


def test_usage_sorted_by_a_meter_puts_its_biggest_user_first(staff_client, org, other_org):
    _record(org, "documents_processed", 900, "acme-1")
    _record(other_org, "documents_processed", 10, "lear-1")
    _record(other_org, "api_predictions", 990, "lear-2")

    response = staff_client.get(console_url("accounts_organization_usage"), {"o": "documents_processed"})

    assert [row["usage"].organization.name for row in response.context["rows"]] == ["Acme Bank", "Lear Credit Union"]


def test_usage_across_organizations_applies_overrides(staff_client, org, other_org, usage):
    _account(org, "free", overrides={"included": {"api_predictions": "3000"}})

    response = staff_client.get(console_url("accounts_organization_usage"), {"o": "name"})

    assert _usage_rows(response)[0] == ("Acme Bank", "Free", "25.0%", [("750", "3,000", "25.0%"), None])


# --- Stripe events ---------------------------------------------------------------------


def test_stripe_event_list_shows_type_status_organization_attempts_and_error(staff_client, org):
    _event("evt_failed", attempts=1, error="No organization has the Stripe customer cus_nobody.")
    _event(
        "evt_done",
        event_type="customer.subscription.updated",
        status="processed",
        attempts=1,
        organization_id_hint=org.id,
    )

    response = staff_client.get(console_url("billing_stripeevent_changelist"))

    assert response.status_code == 200
    rows = {
        event.stripe_event_id: (event.event_type, event.status, event.organization_name, event.attempts)
        for event in response.context["cl"].result_list
    }
    assert rows == {
        "evt_failed": ("invoice.paid", "failed", None, 1),
        "evt_done": ("customer.subscription.updated", "processed", "Acme Bank", 1),
    }
    html = response.content.decode()
    assert "No organization has the Stripe customer cus_nobody." in html
    assert f'<a href="{console_url("accounts_organization_billing", org.pk)}">Acme Bank</a>' in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "failed"}, ["evt_failed"]),
        ({"status__exact": "processed"}, ["evt_done"]),
        ({"event_type__exact": "customer.subscription.updated"}, ["evt_done"]),
        ({"q": "evt_fail"}, ["evt_failed"]),
        ({"organization_id_hint__exact": "ORG"}, ["evt_done"]),
    ],
)
def test_stripe_events_filter_by_status_type_and_organization(staff_client, org, params, expected):
    _event("evt_failed")
    _event("evt_done", event_type="customer.subscription.updated", status="processed", organization_id_hint=org.id)
    params = {key: str(org.id) if value == "ORG" else value for key, value in params.items()}

    response = staff_client.get(console_url("billing_stripeevent_changelist"), params)

    assert response.status_code == 200
    assert [event.stripe_event_id for event in response.context["cl"].result_list] == expected


@pytest.mark.parametrize(
    ("params", "status", "location"),
    [
        ({"organization_id_hint__exact": "abc"}, 302, "/console/billing/stripeevent/?e=1"),
        ({"organization_id_hint__exact": HUGE}, 200, None),
        ({"status__exact": "bogus"}, 200, None),
        ({"payload__contains": "x"}, 400, None),
    ],
)
def test_malformed_stripe_event_filters_never_500(staff_client, params, status, location):
    response = staff_client.get(console_url("billing_stripeevent_changelist"), params)

    assert response.status_code == status
    assert response.get("Location") == location


def test_stripe_event_detail_pretty_prints_the_payload_and_offers_reprocess(staff_client):
    event = _event("evt_failed", error="boom")

    response = staff_client.get(console_url("billing_stripeevent_change", event.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert escape(json.dumps(event.payload, indent=2, sort_keys=True)) in html
    assert f'action="{console_url("billing_stripeevent_reprocess", event.pk)}"' in html


def test_a_processed_event_offers_no_reprocess(staff_client):
    event = _event("evt_done", status="processed")

    response = staff_client.get(console_url("billing_stripeevent_change", event.pk))

    assert response.status_code == 200
    assert console_url("billing_stripeevent_reprocess", event.pk) not in response.content.decode()


def test_reprocessing_an_event_for_an_unknown_customer_fails_with_a_readable_error(staff_client, org, caplog):
    event = _event("evt_unknown", attempts=1, error="old error")

    with caplog.at_level(logging.INFO, logger="apps.console.services"):
        response = staff_client.post(console_url("billing_stripeevent_reprocess", event.pk))

    assert response.status_code == 302
    assert response["Location"] == console_url("billing_stripeevent_change", event.pk)
    assert _messages(response) == [
        "Reprocessed evt_unknown: failed. No organization has the Stripe customer cus_nobody."
    ]
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error, event.organization_id_hint) == (
        "failed",
        2,
        "No organization has the Stripe customer cus_nobody.",
        None,
    )
    [record] = [record for record in caplog.records if record.getMessage() == "console.stripe_event_reprocessed"]
    assert (record.stripe_event_id, record.status, record.organization_id) == ("evt_unknown", "failed", None)
    assert _audit(org, "console.stripe_event_reprocessed") == []


def test_reprocessing_an_event_of_a_known_customer_is_audited_on_its_organization(
    staff_client, staff_user, org, other_org
):
    _account(org, "starter", stripe_customer_id="cus_acme")
    event = _event("evt_acme", customer="cus_acme", attempts=1)

    response = staff_client.post(console_url("billing_stripeevent_reprocess", event.pk))

    assert _messages(response) == [f"Reprocessed evt_acme: failed. {NO_STRIPE}"]
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error, event.organization_id_hint) == ("failed", 2, NO_STRIPE, org.id)
    [entry] = _audit(org, "console.stripe_event_reprocessed")
    assert (entry.via, entry.actor_user_id, entry.target_label) == ("console", staff_user.id, "Stripe event evt_acme")
    assert entry.metadata == {
        "stripe_event_id": "evt_acme",
        "event_type": "invoice.paid",
        "status": "failed",
        "error": NO_STRIPE,
    }
    assert _audit(other_org, "console.stripe_event_reprocessed") == []


@pytest.mark.parametrize("status", ["processed", "ignored"])
def test_a_processed_or_ignored_event_is_not_reprocessed(staff_client, status):
    event = _event("evt_done", status=status, attempts=1)

    response = staff_client.post(console_url("billing_stripeevent_reprocess", event.pk))

    assert _messages(response) == [
        f"Stripe event evt_done is {status}; only failed or unprocessed events are reprocessed."
    ]
    event.refresh_from_db()
    assert (event.status, event.attempts) == (status, 1)


def test_reprocess_answers_a_get_without_reprocessing(staff_client):
    event = _event("evt_failed", attempts=1)

    response = staff_client.get(console_url("billing_stripeevent_reprocess", event.pk))

    assert response.status_code == 302
    event.refresh_from_db()
    assert event.attempts == 1


@pytest.mark.parametrize("object_id", ["abc", HUGE])
def test_reprocessing_an_unknown_event_redirects_to_the_list(staff_client, object_id):
    response = staff_client.post(f"/console/billing/stripeevent/{object_id}/reprocess/")

    assert response.status_code == 302
    assert response["Location"] == console_url("billing_stripeevent_changelist")


def test_the_reprocess_action_reprocesses_the_selected_failed_events(staff_client):
    first = _event("evt_1", attempts=1)
    second = _event("evt_2", attempts=3)
    done = _event("evt_3", status="processed", attempts=1)

    response = staff_client.post(
        console_url("billing_stripeevent_changelist"),
        {"action": "reprocess_events", ACTION_CHECKBOX_NAME: [first.pk, second.pk, done.pk]},
    )

    assert response.status_code == 302
    assert _messages(response) == [
        "Reprocessed 2 event(s): 0 processed, 2 failed. 1 skipped (already processed or ignored)."
    ]
    attempts = dict(StripeEvent.objects.values_list("stripe_event_id", "attempts"))
    assert attempts == {"evt_1": 2, "evt_2": 4, "evt_3": 1}


# --- Read-only records -----------------------------------------------------------------


def test_usage_events_credits_and_stripe_events_cannot_be_deleted(staff_client, org, in_org):
    _record(org, "api_predictions", 5, "acme-1")
    with in_org(org):
        Credit.objects.create(organization=org, amount_cents=100, reason="x", granted_by_label="x")
    event = _event("evt_keep")

    delete = staff_client.post(console_url("billing_stripeevent_delete", event.pk), {"post": "yes"})
    bulk = staff_client.post(
        console_url("billing_stripeevent_changelist"), {"action": "delete_selected", ACTION_CHECKBOX_NAME: [event.pk]}
    )

    assert delete.status_code == 403
    assert bulk.status_code == 302
    assert _messages(bulk) == ["No action selected."]
    assert StripeEvent.objects.filter(pk=event.pk).exists()
    assert [console_site.is_registered(model) for model in (UsageEvent, UsageCounter, Credit)] == [False] * 3
    with in_org(org):
        assert UsageEvent.objects.for_org(org).count() == 1
        assert Credit.objects.for_org(org).count() == 1


# --- Who gets in -----------------------------------------------------------------------


@pytest.fixture
def billing_urls(org):
    event = _event("evt_1")
    return [
        console_url("billing_plan_changelist"),
        console_url("billing_plan_add"),
        console_url("billing_plan_change", _plan("starter").pk),
        console_url("billing_plan_delete", _plan("pro").pk),
        console_url("billing_stripeevent_changelist"),
        console_url("billing_stripeevent_change", event.pk),
        console_url("billing_stripeevent_reprocess", event.pk),
        console_url("accounts_organization_usage"),
        console_url("accounts_organization_billing", org.pk),
        console_url("accounts_organization_billing_plan", org.pk),
        console_url("accounts_organization_billing_overrides", org.pk),
        console_url("accounts_organization_billing_credit", org.pk),
    ]


@pytest.fixture
def anonymous_client():
    return Client()


@pytest.mark.parametrize("visitor", ["owner_client", "anonymous_client"])
def test_non_staff_are_refused_every_billing_page_and_action(request, org, billing_urls, visitor):
    client = request.getfixturevalue(visitor)
    starter = _plan("starter")
    event = StripeEvent.objects.get(stripe_event_id="evt_1")

    reads = [client.get(url) for url in billing_urls]
    writes = [
        client.post(console_url("accounts_organization_billing_plan", org.pk), {"plan": _plan("pro").pk}),
        client.post(console_url("accounts_organization_billing_overrides", org.pk), {"max_seats": "500"}),
        client.post(console_url("accounts_organization_billing_credit", org.pk), {"amount": "50", "reason": "x"}),
        client.post(console_url("billing_plan_change", starter.pk), _plan_post_data(starter, max_seats=999)),
        client.post(console_url("billing_plan_delete", _plan("pro").pk), {"post": "yes"}),
        client.post(console_url("billing_stripeevent_reprocess", event.pk)),
    ]

    assert [response.status_code for response in reads + writes] == [302] * (len(reads) + len(writes))
    assert all(response["Location"].startswith("/console/login/?next=") for response in reads + writes)
    assert _stored_account(org) is None
    assert _credits(org) == []
    starter.refresh_from_db()
    assert starter.max_seats == 10
    assert Plan.objects.filter(code="pro").exists()
    event.refresh_from_db()
    assert event.attempts == 0
