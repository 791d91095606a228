"""The isolation matrix for the REST API: organization B's key never sees or changes A's rows.

Every tenant-scoped endpoint is listed here; tests/apps/dashboard covers the same for B's
signed-in members. A new endpoint belongs in ENDPOINTS below.
"""

import pytest

from apps.accounts.models import Invitation, Membership
from apps.api_keys.models import ApiKey
from apps.audit.models import AuditEntry
from tests.factories.accounts import InvitationFactory, MembershipFactory
from tests.factories.api_keys import make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def a_rows(org, owner, in_org):
    """Org A's objects: a member, an invitation, a key."""
    member = MembershipFactory(organization=org, role="member")
    invitation = InvitationFactory(organization=org, email="invited@acme.example")
    api_key, _ = make_api_key(org, name="A's key")
    return {"member": member, "invitation": invitation, "api_key": api_key}


def _snapshot(org, in_org):
    with in_org(org):
        return {
            "members": sorted(Membership.objects.values_list("id", "role")),
            "invitations": sorted(Invitation.objects.values_list("id", "revoked_at")),
            "keys": sorted(ApiKey.objects.values_list("id", "name", "revoked_at")),
            "audit": AuditEntry.objects.count(),
            "name": org.__class__.objects.get(id=org.id).name,
        }


DETAIL_REQUESTS = [
    ("get", "/api/v1/members/{member}", None),
    ("patch", "/api/v1/members/{member}", {"role": "viewer"}),
    ("delete", "/api/v1/members/{member}", None),
    ("post", "/api/v1/invitations/{invitation}/revoke", None),
    ("get", "/api/v1/api-keys/{api_key}", None),
    ("post", "/api/v1/api-keys/{api_key}/revoke", None),
]

LIST_REQUESTS = ["/api/v1/members", "/api/v1/invitations", "/api/v1/api-keys", "/api/v1/audit-log"]


@pytest.mark.parametrize(("method", "template", "body"), DETAIL_REQUESTS)
def test_other_orgs_key_gets_404_and_changes_nothing(a_rows, org, in_org, other_api_client, method, template, body):
    path = template.format(**{name: row.id for name, row in a_rows.items()})
    before = _snapshot(org, in_org)

    response = getattr(other_api_client, method)(path, body, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert _snapshot(org, in_org) == before


@pytest.fixture
def b_rows(other_org, other_owner):
    return {"invitation": InvitationFactory(organization=other_org), "api_key": make_api_key(other_org)[0]}


@pytest.mark.parametrize("path", LIST_REQUESTS)
def test_other_orgs_lists_never_contain_a_rows(a_rows, b_rows, org, other_org, in_org, other_api_client, path):
    with in_org(org):
        a_ids = {
            str(pk)
            for model in (Membership, Invitation, ApiKey, AuditEntry)
            for pk in model.objects.values_list("id", flat=True)
        }

    response = other_api_client.get(path)

    assert response.status_code == 200
    results = response.json()["results"]
    assert results, "B's own rows should be listed"
    assert a_ids.isdisjoint({item["id"] for item in results})


def test_organization_endpoint_reads_and_writes_only_the_keys_org(a_rows, org, other_org, in_org, other_api_client):
    before = _snapshot(org, in_org)

    read = other_api_client.get("/api/v1/organization")
    write = other_api_client.patch("/api/v1/organization", {"name": "Renamed B"}, format="json")

    assert read.json()["id"] == other_org.id
    assert write.status_code == 200 and write.json()["name"] == "Renamed B"
    assert _snapshot(org, in_org) == before


def test_creating_through_b_lands_in_b(a_rows, org, other_org, in_org, other_api_client):
    before = _snapshot(org, in_org)

    created = other_api_client.post("/api/v1/api-keys", {"name": "B new", "scopes": ["admin"]}, format="json")
    invited = other_api_client.post("/api/v1/invitations", {"email": "invited@acme.example"}, format="json")

    assert created.status_code == 201 and invited.status_code == 201
    with in_org(other_org):
        assert ApiKey.objects.filter(id=created.json()["id"], organization=other_org).count() == 1
    assert _snapshot(org, in_org) == before


def test_every_api_route_is_in_the_matrix():
    from apps.config import api_urls

    names = {pattern.name for pattern in api_urls.urlpatterns if not pattern.name.endswith("-slash")}
    covered = {
        "member-list",
        "member-detail",
        "invitation-list",
        "invitation-revoke",
        "api-key-list",
        "api-key-detail",
        "api-key-revoke",
        "audit-log",
        "organization-detail",
    }
    assert names == covered
