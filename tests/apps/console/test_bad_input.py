"""Malformed input never produces a 500 in the console, and changes nothing."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.api_keys.models import ApiKey
from apps.audit.models import AuditEntry
from tests.apps.console.conftest import console_url

pytestmark = pytest.mark.django_db

ORGANIZATIONS = "/console/accounts/organization/"
API_KEYS = "/console/api_keys/apikey/"
AUDIT = "/console/audit/auditentry/"
HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("url", "params", "status", "location"),
    [
        (ORGANIZATIONS, {"q": "acme\x00"}, 400, None),
        (AUDIT, {"via__exact": "console\x00"}, 400, None),
        (AUDIT, {"via\x00": "x"}, 400, None),
        (ORGANIZATIONS, {"status": "bogus"}, 200, None),
        (ORGANIZATIONS, {"o": "abc"}, 200, None),
        (ORGANIZATIONS, {"p": "abc"}, 200, None),
        (ORGANIZATIONS, {"p": "99999"}, 200, None),
        (ORGANIZATIONS, {"no_such_field": "1"}, 400, None),
        (ORGANIZATIONS, {"name__regex": "("}, 400, None),
        (AUDIT, {"ip_address": "not-an-ip"}, 400, None),
        (AUDIT, {"action__exact": "api_key.created"}, 200, None),
        (AUDIT, {"via__isnull": "maybe"}, 200, None),
        ("/console/accounts/user/", {"is_staff__exact": "maybe"}, 302, "/console/accounts/user/?e=1"),
        (AUDIT, {"created_at__year": "abc"}, 302, f"{AUDIT}?e=1"),
        (AUDIT, {"created_at__year": "2020", "created_at__month": "13"}, 302, f"{AUDIT}?e=1"),
        (AUDIT, {"organization__id__exact": "abc"}, 302, f"{AUDIT}?e=1"),
        (AUDIT, {"organization__id__exact": HUGE}, 200, None),
        (AUDIT, {"via__exact": "x" * 5000}, 200, None),
        (f"{ORGANIZATIONS}abc/change/", {}, 302, "/console/"),
        (f"{ORGANIZATIONS}{HUGE}/change/", {}, 302, "/console/"),
        (f"{ORGANIZATIONS}abc/suspend/", {}, 302, ORGANIZATIONS),
        (f"{ORGANIZATIONS}{HUGE}/unsuspend/", {}, 302, ORGANIZATIONS),
        (f"{ORGANIZATIONS}abc/history/", {}, 302, "/console/"),
        (f"{API_KEYS}not-a-uuid/change/", {}, 302, "/console/"),
        ("/console/accounts/user/abc/change/", {}, 302, "/console/"),
    ],
)
def test_malformed_query_and_ids_get_a_redirect_or_a_page(staff_client, org, url, params, status, location):
    response = staff_client.get(url, params)

    assert response.status_code == status
    assert response.get("Location") == location


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (ORGANIZATIONS, {"action": "suspend_organizations", ACTION_CHECKBOX_NAME: ["abc"], "index": "0"}),
        (
            ORGANIZATIONS,
            {"action": "suspend_organizations", ACTION_CHECKBOX_NAME: ["abc"], "confirm": "yes", "reason": "x"},
        ),
        (ORGANIZATIONS, {"action": "suspend_organizations", ACTION_CHECKBOX_NAME: [HUGE], "confirm": "yes"}),
        (ORGANIZATIONS, {"action": "no_such_action", ACTION_CHECKBOX_NAME: ["1"], "index": "0"}),
        (ORGANIZATIONS, {"action": "unsuspend_organizations", "index": "0"}),
        (API_KEYS, {"action": "revoke_keys", ACTION_CHECKBOX_NAME: ["not-a-uuid"], "index": "0"}),
        (API_KEYS, {"action": "revoke_keys", ACTION_CHECKBOX_NAME: ["not-a-uuid"], "confirm": "yes"}),
        (API_KEYS, {"action": "revoke_keys", ACTION_CHECKBOX_NAME: ["00000000-0000-0000-0000-000000000000"]}),
    ],
)
def test_malformed_actions_redirect_back_and_change_nothing(staff_client, org, org_key, in_org, url, data):
    response = staff_client.post(url, data)

    assert response.status_code == 302
    assert response["Location"] == url
    org.refresh_from_db()
    assert org.suspended_at is None
    with in_org(org):
        assert ApiKey.objects.get(pk=org_key[0].pk).revoked_at is None
        assert AuditEntry.objects.for_org(org).filter(via="console").count() == 0


def test_a_suspend_action_with_an_unknown_id_suspends_nothing(staff_client, org):
    response = staff_client.post(
        ORGANIZATIONS,
        {"action": "suspend_organizations", ACTION_CHECKBOX_NAME: [HUGE], "confirm": "yes", "reason": "Fraud"},
    )

    assert response.status_code == 302
    org.refresh_from_db()
    assert org.suspended_at is None


def test_a_user_form_without_its_management_data_is_shown_again(staff_client, owner):
    response = staff_client.post(console_url("accounts_user_change", owner.pk), {"is_active": ""})

    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.is_active is True
