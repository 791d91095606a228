"""The whole key lifecycle in a real browser: sign up, create a key, call the API with it,
revoke it, and check the secret never shows again.

Screenshots go to $TESSERA_SCREENSHOT_DIR when set (to review the design), else a tmp dir.
"""

import json
import re
import urllib.error
import urllib.request

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = re.compile(r"tsk_live_[A-Za-z0-9]{40}")


@pytest.fixture
def browser_page(browser_context):
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = browser_context.new_page()
    page.set_default_timeout(15_000)
    return page


def _call_api(url: str, secret: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})  # noqa: S310 - our live server
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_sign_up_create_use_and_revoke_an_api_key(live_server, browser_page, screenshot_dir):
    page = browser_page
    api_url = live_server.url + "/api/v1/organization"

    # Sign up: the new organization's overview opens.
    page.goto(live_server.url + "/signup/")
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("Work email").fill("grace@example.com")
    page.get_by_label("Password").fill("compilers are friends 1952")
    page.get_by_label("Organization name").fill("Harbor Analytics")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(live_server.url + "/o/harbor-analytics/")
    overview_heading = page.get_by_test_id("organization-name").inner_text()
    page.screenshot(path=str(screenshot_dir / "overview.png"), full_page=True)

    # Create a key (an htmx swap): the secret is shown once, with a copy button.
    page.get_by_test_id("nav-api_keys").click()
    page.wait_for_url(live_server.url + "/o/harbor-analytics/api-keys/")
    page.get_by_label("Name", exact=True).fill("Production backend")
    page.get_by_test_id("scope-support:read").click()
    page.get_by_test_id("scope-support:write").click()
    page.get_by_test_id("api-key-create-submit").click()
    secret = page.get_by_test_id("api-key-secret").input_value()
    url_after_create = page.url
    list_after_create = page.get_by_test_id("api-key-name").all_inner_texts()
    page.get_by_test_id("api-key-copy").click()
    page.get_by_text("Copied").wait_for()
    clipboard = page.evaluate("navigator.clipboard.readText()")
    page.screenshot(path=str(screenshot_dir / "api-keys-created.png"), full_page=True)

    status_active, body_active = _call_api(api_url, secret)

    # Revoke it in the browser, confirming the dialog.
    page.get_by_test_id("api-key-done").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("api-key-revoke").click()
    page.get_by_test_id("flash-success").wait_for()
    status_after_revoke = page.get_by_test_id("api-key-status").inner_text()

    status_revoked, body_revoked = _call_api(api_url, secret)

    page.reload()
    reloaded_html = page.content()
    page.screenshot(path=str(screenshot_dir / "api-keys.png"), full_page=True)

    page.get_by_test_id("nav-team").click()
    page.wait_for_url(live_server.url + "/o/harbor-analytics/team/")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_test_id("invitation-row").wait_for()
    page.screenshot(path=str(screenshot_dir / "team.png"), full_page=True)

    assert overview_heading == "Harbor Analytics"
    assert SECRET.fullmatch(secret)
    assert url_after_create == live_server.url + "/o/harbor-analytics/api-keys/"  # swapped in by htmx
    assert list_after_create == ["Production backend"]
    assert clipboard == secret
    assert status_active == 200
    assert body_active["name"] == "Harbor Analytics"
    assert status_after_revoke == "Revoked"
    assert status_revoked == 401
    assert body_revoked["error"]["code"] == "api_key_revoked"
    assert secret not in reloaded_html
    assert SECRET.findall(reloaded_html) == []
