import pytest
from django.utils import timezone

from apps.accounts.models import Organization
from apps.audit.models import AuditEntry
from tests.apps.dashboard.markup import page
from tests.factories.accounts import MembershipFactory
from tests.factories.api_keys import make_api_key

pytestmark = pytest.mark.django_db

PAGES = ["", "api-keys/", "team/", "settings/", "products/", "datasets/", "training/", "models/", "webhooks/", "usage/"]


@pytest.mark.parametrize("path", [*PAGES, "audit/"])
def test_every_page_renders_for_an_owner(owner_client, org, path):
    response = owner_client.get(f"/o/{org.slug}/{path}")

    assert response.status_code == 200
    assert page(response).one("org-switcher").all("org-switcher-item")[0].text.startswith("AB Acme Bank")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_but_the_audit_log_renders_for_a_viewer(client_for, viewer, org, path):
    response = client_for(viewer).get(f"/o/{org.slug}/{path}")

    assert response.status_code == 200
    assert page(response).all("nav-audit") == []


def test_the_switcher_lists_every_organization_of_the_user(owner_client, owner, org, other_org):
    MembershipFactory(organization=other_org, user=owner, role="viewer")

    response = owner_client.get(f"/o/{org.slug}/")

    items = page(response).one("org-switcher").all("org-switcher-item")
    assert [item.get("href") for item in items] == ["/o/acme-bank/", "/o/lear-credit-union/"]
    assert [item.text for item in items] == ["AB Acme Bank Owner", "LC Lear Credit Union Viewer"]
    assert [item.get("aria-current") for item in items] == ["page", None]


def test_the_second_organization_opens_with_the_role_held_there(owner_client, owner, other_org):
    MembershipFactory(organization=other_org, user=owner, role="viewer")

    response = owner_client.get(f"/o/{other_org.slug}/api-keys/")

    assert response.status_code == 200
    assert (
        page(response)
        .one("api-keys-read-only")
        .text.endswith("Your role is Viewer; ask an owner or admin if you need a key.")
    )


def test_a_user_creates_another_organization_and_owns_it(owner_client, owner, membership_of):
    response = owner_client.post("/orgs/", {"name": "Acme Labs"})

    created = Organization.objects.get(name="Acme Labs")
    assert response.status_code == 302
    assert response["Location"] == "/o/acme-labs/"
    assert membership_of(created, owner).role == "owner"


def test_the_organization_list_shows_each_membership(owner_client, owner, other_org):
    MembershipFactory(organization=other_org, user=owner, role="admin")

    response = owner_client.get("/orgs/")

    assert response.status_code == 200
    assert [link.text for link in page(response).one("organization-list").all(tag="a")] == [
        "AB Acme Bank Owner",
        "LC Lear Credit Union Admin",
    ]


def test_the_overview_counts_keys_members_and_invitations(owner_client, org, owner, member):
    test_key, _ = make_api_key(org)
    revoked, _ = make_api_key(org, name="Revoked")
    owner_client.post(f"/o/{org.slug}/api-keys/{revoked.id}/revoke/")
    owner_client.post(f"/o/{org.slug}/team/invitations/", {"email": "new@example.com", "role": "member"})

    response = owner_client.get(f"/o/{org.slug}/")

    html = page(response)
    assert html.one("stat-api-keys").text == "Active API keys 1"
    assert html.one("stat-members").text == "Members 2"
    assert html.one("stat-invitations").text == "Pending invitations 1"
    assert [item.all(tag="span")[0].text for item in html.one("recent-activity").all(tag="li")] == [
        f"{owner.email} invited new@example.com",
        f"{owner.email} revoked API key Revoked ({revoked.masked})",
        f"Tessera created API key Revoked ({revoked.masked})",
        f"Tessera created API key Test key ({test_key.masked})",
    ]


def test_pages_of_later_issues_say_what_brings_them(owner_client, org):
    response = owner_client.get(f"/o/{org.slug}/products/")

    assert response.status_code == 200
    assert page(response).one("coming-soon").all(tag="h2")[0].text == (
        "Coming with the product issues: customer service automation, sentiment monitoring and recommendations"
    )


def test_usage_and_billing_is_no_longer_coming_soon(owner_client, org):
    response = owner_client.get(f"/o/{org.slug}/usage/")

    html = page(response)
    assert response.status_code == 200
    assert html.all("coming-soon") == []
    assert html.one("nav-usage").all(tag="span")[-1].text == "Usage & billing"
    assert html.one("nav-products").all(tag="span")[-1].text == "Soon"


def test_an_owner_renames_the_organization(owner_client, org, owner, in_org):
    response = owner_client.post(f"/o/{org.slug}/settings/", {"name": "Acme Bank plc"})

    org.refresh_from_db()
    with in_org(org):
        entry = AuditEntry.objects.for_org(org).get(action="organization.updated")
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/settings/"
    assert org.name == "Acme Bank plc"
    assert (entry.actor_label, entry.metadata) == (owner.email, {"name": {"from": "Acme Bank", "to": "Acme Bank plc"}})


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_rename_the_organization(request, client_for, org, role):
    response = client_for(request.getfixturevalue(role)).post(f"/o/{org.slug}/settings/", {"name": "Hijacked"})

    org.refresh_from_db()
    assert response.status_code == 403
    assert page(response).one("form-error").text == "Only owners and admins can do this."
    assert org.name == "Acme Bank"


def test_a_suspended_organization_shows_why_with_403(owner_client, org):
    org.suspended_at = timezone.now()
    org.suspended_reason = "Unpaid invoices since March."
    org.save()

    overview = owner_client.get(f"/o/{org.slug}/")
    keys = owner_client.post(f"/o/{org.slug}/api-keys/create/", {"name": "x", "scopes": ["admin"]})

    assert overview.status_code == 403
    assert page(overview).one("suspended-reason").text == "Reason Unpaid invoices since March."
    assert keys.status_code == 403
    assert page(keys).one("suspended").all(tag="h1")[0].text == "Acme Bank is suspended"
