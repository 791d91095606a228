import re

import pytest
from django.conf import settings

from apps.accounts.models import Membership, Organization, User
from apps.audit.models import AuditEntry
from tests.apps.dashboard.markup import page
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db

SIGN_UP = {
    "full_name": "Ada Lovelace",
    "email": "Ada@Example.com",
    "password": "difference engine no 2",
    "organization_name": "Analytical Engines",
}


def test_sign_up_creates_the_organization_with_the_user_as_owner_and_logs_in(client, in_org):
    response = client.post("/signup/", SIGN_UP)

    user = User.objects.get(email="ada@example.com")
    organization = Organization.objects.get(name="Analytical Engines")
    with in_org(organization):
        memberships = list(Membership.objects.for_org(organization).values_list("user_id", "role"))
        entries = list(AuditEntry.objects.for_org(organization).values_list("action", "via", "actor_label"))
    overview = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"] == "/o/analytical-engines/"
    assert user.full_name == "Ada Lovelace"
    assert user.check_password("difference engine no 2")
    assert memberships == [(user.id, "owner")]
    assert entries == [("organization.created", "dashboard", "ada@example.com")]
    assert client.session["_auth_user_id"] == str(user.id)
    assert overview.status_code == 200
    assert page(overview).one("organization-name").text == "Analytical Engines"


def test_sign_up_with_a_taken_email_is_refused_with_a_readable_message(client):
    UserFactory(email="ada@example.com")

    response = client.post("/signup/", SIGN_UP)

    assert response.status_code == 400
    assert "An account with this email already exists. Log in instead." in page(response).text
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1
    assert Organization.objects.filter(name="Analytical Engines").exists() is False
    assert "_auth_user_id" not in client.session


def test_sign_up_with_a_weak_password_is_refused_under_the_password_field(client):
    response = client.post("/signup/", {**SIGN_UP, "password": "12345678"})

    errors = [element.text for element in page(response).all() if element.get("class") == "field-error"]
    assert response.status_code == 400
    assert errors == ["This password is too common.", "This password is entirely numeric."]
    assert User.objects.filter(email="ada@example.com").exists() is False


def test_sign_up_follows_a_safe_next_url_and_ignores_an_external_one(client):
    response = client.post("/signup/?next=/invitations/abc/", {**SIGN_UP, "next": "/invitations/abc/"})
    other = client.post("/logout/")
    external = client.post(
        "/signup/",
        {**SIGN_UP, "email": "grace@example.com", "organization_name": "Cobol", "next": "https://evil.example/"},
    )

    assert response["Location"] == "/invitations/abc/"
    assert other.status_code == 302
    assert external["Location"] == "/o/cobol/"


def test_log_in_redirects_to_the_first_organization_and_log_out_ends_the_session(client, owner, org):
    response = client.post("/login/", {"username": owner.email, "password": "correct horse battery staple"})
    home = client.get("/")
    logout = client.post("/logout/")
    after = client.get(f"/o/{org.slug}/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert home["Location"] == "/o/acme-bank/"
    assert logout.status_code == 302
    assert logout["Location"] == "/login/"
    assert "_auth_user_id" not in client.session
    assert after.status_code == 302
    assert after["Location"] == "/login/?next=/o/acme-bank/"


def test_log_in_with_a_wrong_password_shows_why(client, owner):
    response = client.post("/login/", {"username": owner.email, "password": "wrong"})

    assert response.status_code == 200
    assert page(response).one("form-error").text == (
        "That email and password don't match an account. Check both and try again."
    )
    assert "_auth_user_id" not in client.session


def test_log_out_needs_a_post(owner_client):
    response = owner_client.get("/logout/")

    assert response.status_code == 405
    assert "_auth_user_id" in owner_client.session


def test_home_sends_anonymous_visitors_to_log_in(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_home_sends_a_user_without_organizations_to_the_organization_list(client_for):
    response = client_for(UserFactory()).get("/")

    assert response.status_code == 302
    assert response["Location"] == "/orgs/"


def test_password_reset_emails_a_link_that_sets_a_new_password(client, owner, mailoutbox):
    response = client.post("/password-reset/", {"email": owner.email.upper()})

    body = mailoutbox[0].body
    link = re.search(re.escape(settings.SITE_URL) + r"(/password-reset/[^/\s]+/[^/\s]+/)", body).group(1)
    confirm = client.get(link)
    form_page = client.get(confirm["Location"])
    done = client.post(
        confirm["Location"], {"new_password1": "a brand new passphrase", "new_password2": "a brand new passphrase"}
    )
    owner.refresh_from_db()
    reused = client.get(link)
    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [owner.email]
    assert mailoutbox[0].subject == "Reset your Tessera password"
    assert confirm.status_code == 302
    assert confirm["Location"].endswith("/set-password/")
    assert form_page.status_code == 200
    assert page(form_page).all("password-set-form") != []
    assert done.status_code == 302
    assert done["Location"] == "/password-reset/complete/"
    assert owner.check_password("a brand new passphrase")
    assert page(reused).one("reset-link-invalid").text == "Reset links work once and expire after 24 hours."


def test_password_reset_for_an_unknown_email_looks_the_same_and_sends_nothing(client, mailoutbox):
    response = client.post("/password-reset/", {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    assert mailoutbox == []
