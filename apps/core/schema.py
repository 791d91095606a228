"""OpenAPI: every operation documents the error shape and the responses it can produce."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `missing_scope`.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    details = serializers.DictField(help_text="Structured context: field errors, limits, retry times.")


class ErrorResponse(serializers.Serializer):
    error = ErrorDetail()


_COMMON_ERRORS = {
    "400": "Malformed body, invalid JSON or invalid fields (`validation_error`, `malformed_body`).",
    "401": "Missing, malformed, unknown, revoked or expired API key.",
    "403": "Missing scope (`missing_scope`) or suspended organization (`organization_suspended`).",
    "413": "Request body larger than API_MAX_BODY_BYTES (`request_too_large`).",
    "415": "Content-Type is not application/json.",
    "429": "Rate limit exceeded (`rate_limited`); see the Retry-After header.",
}


class TesseraAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        extra = dict(_COMMON_ERRORS)
        if self.method in ("GET", "PATCH", "PUT", "DELETE") or "{" in self.path:
            extra["404"] = "Not found, or owned by another organization (`not_found`)."
        if self.method == "POST":
            extra["409"] = "Idempotency-Key reused with a different body, or a state conflict."
        if self.method not in ("POST", "PATCH", "PUT"):
            extra.pop("413")
            extra.pop("415")
        for code, description in extra.items():
            if code not in responses:
                response = self._get_response_for_code(ErrorResponse, code, direction=direction)
                response["description"] = description
                responses[code] = response
        return responses

    def get_override_parameters(self) -> list:
        from drf_spectacular.types import OpenApiTypes
        from drf_spectacular.utils import OpenApiParameter

        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Retry-safe POST: the same key and body replay the first response for 24 hours.",
                )
            )
        return parameters


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.api_keys.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "tsk_live_<40 characters>",
            "description": "An organization API key, created in the dashboard under API keys.",
        }
