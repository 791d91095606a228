"""Who gets into the console, and the one named cross-tenant path every view runs on."""

import logging

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from apps.api_keys.models import ApiKey
from tests.apps.console.conftest import console_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def console_urls(org, owner, org_key):
    key, _ = org_key
    return [
        console_url("index"),
        console_url("app_list", "accounts"),
        console_url("accounts_organization_changelist"),
        console_url("accounts_organization_changelist") + f"?q={owner.email}",
        console_url("accounts_organization_change", org.pk),
        console_url("accounts_organization_suspend", org.pk),
        console_url("accounts_organization_unsuspend", org.pk),
        console_url("accounts_organization_history", org.pk),
        console_url("accounts_membership_changelist"),
        console_url("accounts_user_changelist"),
        console_url("accounts_user_change", owner.pk),
        console_url("api_keys_apikey_changelist"),
        console_url("api_keys_apikey_change", key.pk),
        console_url("audit_auditentry_changelist"),
        console_url("password_change"),
    ]


def _login_redirect(url):
    from urllib.parse import quote

    return f"/console/login/?next={quote(url, safe='/')}"


@pytest.fixture
def anonymous_client():
    return Client()


@pytest.fixture
def inactive_staff_client(staff_user):
    staff_user.is_active = False
    staff_user.save()
    inactive = Client()
    inactive.force_login(staff_user)
    return inactive


@pytest.mark.parametrize("visitor", ["owner_client", "anonymous_client", "inactive_staff_client"])
def test_non_staff_are_sent_to_the_console_login_for_every_url(request, console_urls, visitor):
    client = request.getfixturevalue(visitor)

    responses = [client.get(url) for url in console_urls]

    assert [response.status_code for response in responses] == [302] * len(console_urls)
    assert [response["Location"] for response in responses] == [_login_redirect(url) for url in console_urls]
    assert all(response.content == b"" for response in responses)


def test_a_non_staff_owner_cannot_suspend_or_revoke(owner_client, org, org_key, in_org):
    suspend = owner_client.post(
        console_url("accounts_organization_changelist"),
        {"action": "suspend_organizations", ACTION_CHECKBOX_NAME: [org.pk], "confirm": "yes", "reason": "x"},
    )
    suspend_button = owner_client.post(console_url("accounts_organization_suspend", org.pk), {"reason": "x"})
    revoke = owner_client.post(
        console_url("api_keys_apikey_changelist"),
        {"action": "revoke_keys", ACTION_CHECKBOX_NAME: [str(org_key[0].pk)], "confirm": "yes"},
    )

    assert [suspend.status_code, suspend_button.status_code, revoke.status_code] == [302, 302, 302]
    assert suspend["Location"].startswith("/console/login/")
    org.refresh_from_db()
    assert org.suspended_at is None
    with in_org(org):
        assert ApiKey.objects.get(pk=org_key[0].pk).revoked_at is None


def test_the_staff_login_page_is_the_admins_own(client):
    response = client.get("/console/login/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Tessera console" in html
    assert 'name="username"' in html


def test_staff_can_sign_in_on_the_console_login(staff_user):
    client = Client()

    response = client.post(
        "/console/login/?next=/console/",
        {"username": "operator@tessera.example", "password": "correct horse battery staple", "next": "/console/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/console/"
    assert client.get("/console/").status_code == 200


@pytest.mark.parametrize(
    ("url_name", "args", "reason"),
    [
        ("index", (), "console.index"),
        ("accounts_organization_changelist", (), "console.organization.changelist"),
        ("accounts_organization_change", ("org",), "console.organization.change"),
        ("accounts_organization_suspend", ("org",), "console.organization.suspend"),
        ("api_keys_apikey_changelist", (), "console.apikey.changelist"),
        ("audit_auditentry_changelist", (), "console.auditentry.changelist"),
        ("accounts_user_changelist", (), "console.user.changelist"),
    ],
)
def test_every_console_view_runs_on_the_named_cross_tenant_path(staff_client, org, caplog, url_name, args, reason):
    url = console_url(url_name, *[org.pk for _ in args])

    with caplog.at_level(logging.INFO, logger="apps.core.tenancy"):
        response = staff_client.get(url)

    assert response.status_code == 200
    reasons = [record.reason for record in caplog.records if record.getMessage() == "tenancy.cross_tenant"]
    assert reasons == [reason]


def test_a_denied_request_never_enters_the_cross_tenant_path(owner_client, caplog):
    with caplog.at_level(logging.INFO, logger="apps.core.tenancy"):
        response = owner_client.get(console_url("accounts_organization_changelist"))

    assert response.status_code == 302
    assert [record for record in caplog.records if record.getMessage() == "tenancy.cross_tenant"] == []


def test_the_connection_is_back_on_the_application_role_after_a_console_page(staff_client, org, org_key):
    from django.db import connection

    staff_client.get(console_url("accounts_organization_change", org.pk))

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, count(*) FROM api_keys_apikey GROUP BY 1")
        rows = cursor.fetchall()
        cursor.execute("SELECT current_user")
        role = cursor.fetchone()[0]
    assert role == "tessera_app"
    assert rows == []


def test_index_explains_the_console_and_shows_recent_console_actions(staff_client, org):
    staff_client.post(console_url("accounts_organization_suspend", org.pk), {"reason": "Card declined"})

    response = staff_client.get(console_url("index"))

    assert response.status_code == 200
    assert response.context["organization_total"] == 1
    assert response.context["suspended_total"] == 1
    assert [entry.action for entry in response.context["recent_console_entries"]] == ["console.organization_suspended"]
    html = response.content.decode()
    assert "Tessera console" in html
    assert "Revoke API keys" in html
