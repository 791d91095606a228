import pytest

from apps.audit.services import audit_record
from apps.core.actors import Actor
from tests.apps.dashboard.markup import page

pytestmark = pytest.mark.django_db


def _rows(response):
    return [
        (
            row.one("audit-actor").text,
            row.one("audit-via").text,
            row.get("data-action"),
            row.one("audit-target").text,
        )
        for row in page(response).all("audit-row")
    ]


def test_the_audit_log_shows_who_did_what_through_which_key_or_user(owner_client, org, owner, api_client):
    api_response = api_client.post(
        "/api/v1/invitations", {"email": "via-api@example.com", "role": "member"}, format="json"
    )
    owner_client.post(f"/o/{org.slug}/team/invitations/", {"email": "via-dashboard@example.com", "role": "viewer"})

    response = owner_client.get(f"/o/{org.slug}/audit/")

    assert api_response.status_code == 201
    assert response.status_code == 200
    assert _rows(response) == [
        (owner.email, "via Dashboard", "invitation.created", "via-dashboard@example.com"),
        (f"API key Test key ({api_client.api_key.masked})", "via API key", "invitation.created", "via-api@example.com"),
        ("Tessera", "via System", "api_key.created", f"Test key ({api_client.api_key.masked})"),
    ]


def test_the_audit_log_filters_by_action(owner_client, org, api_client):
    owner_client.post(f"/o/{org.slug}/team/invitations/", {"email": "someone@example.com", "role": "viewer"})

    by_group = owner_client.get(f"/o/{org.slug}/audit/", {"action": "api_key"})
    exact = owner_client.get(f"/o/{org.slug}/audit/", {"action": "invitation.created"})
    unknown = owner_client.get(f"/o/{org.slug}/audit/", {"action": "drop table"})

    assert [row[2] for row in _rows(by_group)] == ["api_key.created"]
    assert [row[2] for row in _rows(exact)] == ["invitation.created"]
    assert [row[2] for row in _rows(unknown)] == ["invitation.created", "api_key.created"]


def test_the_audit_log_is_paginated_newest_first(owner_client, org, in_org):
    with in_org(org):
        for number in range(53):
            audit_record(
                organization=org, actor=Actor.system(), action="organization.updated", target_label=f"#{number}"
            )

    first = owner_client.get(f"/o/{org.slug}/audit/")
    second = owner_client.get(f"/o/{org.slug}/audit/", {"page": 2})

    assert len(_rows(first)) == 50
    assert _rows(first)[0][3] == "#52"
    assert [row[3] for row in _rows(second)] == ["#2", "#1", "#0"]


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_read_the_audit_log(request, client_for, org, role):
    response = client_for(request.getfixturevalue(role)).get(f"/o/{org.slug}/audit/")

    assert response.status_code == 403
    assert page(response).all("audit-row") == []
