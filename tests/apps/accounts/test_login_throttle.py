import pytest

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def limits(settings):
    settings.LOGIN_FAILURES_PER_EMAIL = 3
    settings.LOGIN_FAILURES_PER_IP = 5


def _login(client, email, password, path="/login/"):
    return client.post(path, {"username": email, "password": password})


def test_after_too_many_failures_even_the_right_password_is_refused(client, owner, limits):
    failures = [_login(client, owner.email, "wrong").status_code for _ in range(3)]

    locked = _login(client, owner.email, PASSWORD)

    assert failures == [200, 200, 200]
    assert locked.status_code == 200
    assert "Too many failed attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_lock_on_one_email_leaves_other_accounts_alone(client, owner, member, limits):
    for _ in range(3):
        _login(client, owner.email, "wrong")

    response = _login(client, member.email, PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(member.id)


def test_failures_across_emails_lock_the_ip(client, owner, limits):
    for number in range(5):
        _login(client, f"guess{number}@example.com", "wrong")

    response = _login(client, owner.email, PASSWORD)

    assert "Too many failed attempts" in response.content.decode()


def test_the_console_login_is_throttled_too(client, staff_user, limits):
    for _ in range(3):
        _login(client, staff_user.email, "wrong", path="/console/login/")

    response = _login(client, staff_user.email, PASSWORD, path="/console/login/")

    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
