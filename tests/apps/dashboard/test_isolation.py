"""Another organization's owner sees 404 for every page of ours, and cannot reach our rows
through their own organization's URLs either (STYLE.md section 5, rules 4 and 7)."""

import pytest
from django.utils.html import escape

from apps.accounts.models import Invitation, Membership
from apps.api_keys.models import ApiKey
from tests.factories.accounts import InvitationFactory
from tests.factories.api_keys import make_api_key

pytestmark = pytest.mark.django_db

ORG_PAGES = [
    "",
    "api-keys/",
    "team/",
    "audit/",
    "settings/",
    "products/",
    "datasets/",
    "training/",
    "models/",
    "webhooks/",
    "usage/",
]


@pytest.fixture
def rows_of_org(org, owner, member, in_org):
    """One row of org A in each table the dashboard can change, and a snapshot reader."""
    api_key, _ = make_api_key(org, name="A's key")
    invitation = InvitationFactory(organization=org, email="a-invitee@example.com")
    with in_org(org):
        membership = Membership.objects.for_org(org).get(user=member)

    def snapshot():
        with in_org(org):
            return {
                "keys": list(ApiKey.objects.for_org(org).values_list("id", "name", "revoked_at")),
                "memberships": sorted(Membership.objects.for_org(org).values_list("id", "role")),
                "invitations": list(Invitation.objects.for_org(org).values_list("id", "email", "revoked_at")),
            }

    return {"api_key": api_key, "invitation": invitation, "membership": membership, "snapshot": snapshot}


@pytest.mark.parametrize("path", ORG_PAGES)
def test_another_organizations_owner_gets_404_for_every_page(other_owner_client, org, path):
    response = other_owner_client.get(f"/o/{org.slug}/{path}")

    assert response.status_code == 404
    assert "Acme Bank" not in response.content.decode()


def test_a_missing_organization_gets_the_same_404(other_owner_client):
    response = other_owner_client.get("/o/no-such-org/")

    assert response.status_code == 404


@pytest.mark.parametrize("path", ORG_PAGES)
def test_anonymous_visitors_are_sent_to_log_in(client, org, path):
    response = client.get(f"/o/{org.slug}/{path}")

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/o/{org.slug}/{path}"


def _writes(rows):
    return [
        ("api-keys/create/", {"name": "Planted", "scopes": ["admin"]}),
        (f"api-keys/{rows['api_key'].id}/revoke/", {}),
        ("team/invitations/", {"email": "planted@example.com", "role": "owner"}),
        (f"team/invitations/{rows['invitation'].id}/revoke/", {}),
        (f"team/members/{rows['membership'].id}/role/", {"role": "owner"}),
        (f"team/members/{rows['membership'].id}/remove/", {}),
        ("settings/", {"name": "Renamed by B"}),
    ]


WRITE_IDS = ["key-create", "key-revoke", "invite", "invitation-revoke", "member-role", "member-remove", "settings"]


@pytest.mark.parametrize("index", range(len(WRITE_IDS)), ids=WRITE_IDS)
def test_another_organizations_owner_cannot_write_under_our_slug(other_owner_client, org, rows_of_org, index):
    path, data = _writes(rows_of_org)[index]
    before = rows_of_org["snapshot"]()

    response = other_owner_client.post(f"/o/{org.slug}/{path}", data)

    org.refresh_from_db()
    assert response.status_code == 404
    assert rows_of_org["snapshot"]() == before
    assert org.name == "Acme Bank"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("api-keys/{api_key}/revoke/", {}),
        ("team/members/{membership}/role/", {"role": "viewer"}),
        ("team/members/{membership}/remove/", {}),
        ("team/invitations/{invitation}/revoke/", {}),
    ],
    ids=["key-revoke", "member-role", "member-remove", "invitation-revoke"],
)
def test_our_ids_under_their_own_slug_are_404_and_change_nothing(
    other_owner_client, other_org, rows_of_org, path, data
):
    ids = {name: rows_of_org[name].id for name in ("api_key", "membership", "invitation")}
    before = rows_of_org["snapshot"]()

    response = other_owner_client.post(f"/o/{other_org.slug}/" + path.format(**ids), data)

    assert response.status_code == 404
    assert rows_of_org["snapshot"]() == before


@pytest.mark.parametrize("path", ["api-keys/", "team/", "audit/", ""])
def test_their_own_pages_never_show_our_rows(other_owner_client, other_org, other_owner, org, owner, rows_of_org, path):
    make_api_key(other_org, name="B's key")
    InvitationFactory(organization=other_org, email="b-invitee@example.com")
    ours = [
        "A's key",
        rows_of_org["api_key"].masked,
        str(rows_of_org["api_key"].id),
        "a-invitee@example.com",
        rows_of_org["membership"].user.email,
        owner.email,
        org.name,
    ]

    response = other_owner_client.get(f"/o/{other_org.slug}/{path}")

    html = response.content.decode()
    assert response.status_code == 200
    assert escape(other_org.name) in html
    assert [text for text in ours if text in html or escape(text) in html] == []
