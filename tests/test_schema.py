"""The OpenAPI schema is valid and complete: every operation documents auth and errors."""

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker, tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return yaml.safe_load(out.read_text())


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "patch", "put", "delete"}:
                yield path, method, operation


def test_every_operation_requires_the_api_key_and_documents_errors(schema):
    operations = list(_operations(schema))

    assert len(operations) == 70
    for path, method, operation in operations:
        assert operation["security"] == [{"ApiKeyAuth": []}], (path, method)
        for code in ("401", "403", "429"):
            ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorResponse", (path, method, code)
        assert operation.get("summary"), (path, method)


def test_the_error_shape_and_auth_scheme_are_components(schema):
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]) == {"code", "message", "details"}
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"


def test_lists_document_the_cursor_envelope(schema):
    listing = schema["paths"]["/api/v1/api-keys"]["get"]
    ref = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    envelope = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(envelope["properties"]) == {"next", "previous", "results"}
    assert {"cursor", "limit"} <= {parameter["name"] for parameter in listing.get("parameters", [])}


def test_posts_document_idempotency_key(schema):
    for path, method, operation in _operations(schema):
        if method == "post":
            names = [parameter["name"] for parameter in operation.get("parameters", [])]
            assert "Idempotency-Key" in names, path


def test_schema_and_docs_are_served(client):
    schema_response = client.get("/api/v1/schema/")
    docs = client.get("/api/docs/")

    assert schema_response.status_code == 200
    assert b"openapi: 3" in schema_response.content
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content
