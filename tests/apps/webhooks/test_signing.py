import ast
import hashlib
import hmac
import re
import time
from pathlib import Path

import pytest

from apps.webhooks import recipe, signing
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.tasks import webhook_delivery_attempt
from tests.factories.webhooks import emit, make_endpoint

RECIPE_PATH = Path(recipe.__file__)
API_DOCS = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def _run_recipe():
    """The recipe's text, executed on its own: exactly what a customer copies."""
    namespace: dict = {}
    exec(compile(RECIPE_PATH.read_text(), "recipe.py", "exec"), namespace)  # noqa: S102 - our own file
    return namespace


def test_sign_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"id":"evt_1"}'

    header = signing.sign("whsec_abc", 1700000000, body)

    expected = hmac.new(b"whsec_abc", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_sign_with_two_secrets_carries_two_signatures():
    header = signing.sign(["whsec_new", "whsec_old"], 1700000000, b"{}")

    assert header.count("v1=") == 2
    assert signing.verify("whsec_old", header, b"{}", now=1700000000) == 1700000000
    assert signing.verify("whsec_new", header, b"{}", now=1700000000) == 1700000000


def test_verify_accepts_a_fresh_signature():
    header = signing.sign("whsec_abc", 1700000000, b"{}")

    assert signing.verify("whsec_abc", header, b"{}", now=1700000100) == 1700000000


@pytest.mark.parametrize(
    ("secret", "header", "body", "now", "message"),
    [
        ("whsec_other", None, b"{}", 1700000000, "No signature matches"),
        ("whsec_abc", None, b'{"tampered":1}', 1700000000, "No signature matches"),
        ("whsec_abc", None, b"{}", 1700000301, "outside the tolerance"),
        ("whsec_abc", None, b"{}", 1699999699, "outside the tolerance"),
        ("whsec_abc", "v1=abc", b"{}", 1700000000, "malformed"),
        ("whsec_abc", "t=1700000000", b"{}", 1700000000, "malformed"),
        ("whsec_abc", "", b"{}", 1700000000, "malformed"),
        ("whsec_abc", "t=soon,v1=abc", b"{}", 1700000000, "malformed"),
    ],
)
def test_verify_refuses_wrong_secrets_bodies_stale_times_and_garbage(secret, header, body, now, message):
    header = signing.sign("whsec_abc", 1700000000, b"{}") if header is None else header

    with pytest.raises(signing.SignatureError, match=message):
        signing.verify(secret, header, body, now=now)


def test_the_recipe_imports_only_the_standard_library():
    tree = ast.parse(RECIPE_PATH.read_text())

    imported = sorted(
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names
    )
    assert imported == ["hashlib", "hmac", "time"]


@pytest.mark.django_db
def test_the_documented_recipe_verifies_a_real_delivery(org, receiver, in_org):
    endpoint = make_endpoint(org, url=receiver.url)
    event = emit(org, data={"training_job": {"id": "job_1", "status": "succeeded"}})
    with in_org(org):
        delivery = WebhookDelivery.objects.for_org(org).get(event=event)

    webhook_delivery_attempt(org.id, str(delivery.id))

    [request] = receiver.requests
    namespace = _run_recipe()
    verify = namespace["verify_tessera_signature"]
    header = request.headers["Tessera-Signature"]
    timestamp = verify(request.body, header, endpoint.secret)
    assert abs(time.time() - timestamp) < 60
    assert request.json()["id"] == event.public_id
    with pytest.raises(namespace["InvalidSignature"], match="no signature matches"):
        verify(request.body + b" ", header, endpoint.secret)
    with pytest.raises(namespace["InvalidSignature"], match="no signature matches"):
        verify(request.body, header, "whsec_" + "x" * 32)
    with pytest.raises(namespace["InvalidSignature"], match="timestamp outside the tolerance"):
        verify(request.body, header.replace(f"t={timestamp}", f"t={timestamp - 301}"), endpoint.secret)


def test_the_api_guide_embeds_the_recipe_verbatim():
    blocks = re.findall(r"```python\n(.*?)```", API_DOCS.read_text(), flags=re.DOTALL)

    assert RECIPE_PATH.read_text() in blocks
