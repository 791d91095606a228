"""GET /api/v1/usage, and the 402 a client gets at the allowance."""

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.billing.selectors import period_bounds
from apps.core.tenancy import tenant_context
from apps.metering.models import UsageEvent
from apps.metering.services import usage_event_record
from tests.factories.datasets import make_dataset_version
from tests.factories.training import make_job, make_version_row

pytestmark = pytest.mark.django_db


def _record(org, meter, quantity, key, occurred_at=None):
    with tenant_context(org.id):
        usage_event_record(
            organization=org, meter=meter, quantity=quantity, idempotency_key=key, occurred_at=occurred_at
        )


def _meter(body, name):
    return next(item for item in body["meters"] if item["meter"] == name)


def test_usage_per_meter_shows_the_allowance_and_a_projection(api_client, org):
    _record(org, "api_predictions", 250, "a")
    _record(org, "training_minutes_cpu", Decimal("1.5"), "b")

    response = api_client.get("/api/v1/usage")

    body = response.json()
    predictions = _meter(body, "api_predictions")
    start, end = period_bounds()
    assert response.status_code == 200
    assert (body["plan"], body["has_hard_limits"], body["group_by"]) == ("free", True, "meter")
    assert body["period_start"] == start.isoformat().replace("+00:00", "Z")
    assert body["period_end"] == end.isoformat().replace("+00:00", "Z")
    assert len(body["meters"]) == 7
    assert predictions["used"] == "250.000000"
    assert predictions["included"] == "1000.000000"
    assert predictions["percent_used"] == 25.0
    assert Decimal(predictions["projected"]) >= Decimal(250)
    assert _meter(body, "training_minutes_cpu")["used"] == "1.500000"
    assert _meter(body, "seats")["included"] is None


def test_usage_per_day_and_meter_filter(api_client, org):
    start, _ = period_bounds()
    _record(org, "api_predictions", 4, "a", start + timedelta(hours=2))
    _record(org, "api_predictions", 6, "b", start + timedelta(days=1, hours=2))
    _record(org, "documents_processed", 9, "c", start + timedelta(hours=3))

    response = api_client.get("/api/v1/usage", {"group_by": "day", "meter": "api_predictions"})

    assert response.status_code == 200
    assert response.json()["days"] == [
        {"day": start.date().isoformat(), "meter": "api_predictions", "quantity": "4.000000"},
        {"day": (start + timedelta(days=1)).date().isoformat(), "meter": "api_predictions", "quantity": "6.000000"},
    ]


def test_a_past_month_is_its_own_period(api_client, org):
    start, _ = period_bounds()
    last_month = period_bounds(start - timedelta(days=1))[0]
    _record(org, "api_predictions", 12, "old", last_month + timedelta(days=3))
    _record(org, "api_predictions", 1, "new")

    response = api_client.get("/api/v1/usage", {"period": f"{last_month:%Y-%m}"})

    predictions = _meter(response.json(), "api_predictions")
    assert (predictions["used"], predictions["projected"]) == ("12.000000", "12.00")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"period": "last"}, "period"),
        ({"group_by": "week"}, "group_by"),
        ({"meter": "tokens"}, "meter"),
    ],
)
def test_bad_filters_get_a_validation_error(api_client, params, field):
    response = api_client.get("/api/v1/usage", params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["details"]["fields"]) == [field]


def test_usage_needs_billing_read(keyed_client, org):
    training_only = keyed_client(org, scopes=["training"])
    billing = keyed_client(org, scopes=["billing:read"])

    refused = training_only.get("/api/v1/usage")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    assert billing.get("/api/v1/usage").status_code == 200


def test_other_organizations_key_sees_only_its_own_usage(api_client, other_api_client, org, other_org):
    _record(org, "api_predictions", 700, "a")
    _record(other_org, "api_predictions", 3, "a")

    mine = _meter(api_client.get("/api/v1/usage").json(), "api_predictions")
    theirs = _meter(other_api_client.get("/api/v1/usage").json(), "api_predictions")

    assert (mine["used"], theirs["used"]) == ("700.000000", "3.000000")


def test_predict_past_the_free_allowance_is_a_402_naming_the_meter_and_the_reset(api_client, org, in_org):
    version = make_version_row(org, make_job(org, make_dataset_version(org)))
    _record(org, "api_predictions", 999, "used")

    response = api_client.post(f"/api/v1/models/{version.id}/predict", {"texts": ["a", "b"]}, format="json")

    error = response.json()["error"]
    assert response.status_code == 402
    assert error["code"] == "quota_exceeded"
    assert error["details"] == {
        "meter": "api_predictions",
        "limit": "1000",
        "used": "999",
        "requested": "2",
        "resets_at": period_bounds()[1].isoformat(),
    }
    assert "resets on" in error["message"]
    with in_org(org):
        assert UsageEvent.objects.filter(meter="api_predictions").count() == 1


def test_a_training_job_needs_a_training_minute_left_on_free(api_client, org):
    dataset_version = make_dataset_version(org)
    _record(org, "training_minutes_cpu", 60, "used")

    response = api_client.post(
        "/api/v1/training-jobs", {"task": "classification", "dataset": str(dataset_version.dataset.id)}, format="json"
    )

    assert response.status_code == 402
    assert response.json()["error"]["details"]["meter"] == "training_minutes_cpu"
