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
    def get_description(self) -> str:
        # Only the endpoint's own docstring (not TenantApi's, which inspect.getdoc would
        # inherit), followed by the scope the method needs.
        own = (self.view.__class__.__dict__.get("__doc__") or "").strip()
        scope_for = getattr(self.view, "required_scope_for", None)
        if scope_for is None:
            return own
        scope = scope_for(self.method)
        needs = f"Requires an API key with the `{scope}` scope." if scope else "Any valid API key may call this."
        return f"{own}\n\n{needs}".strip()

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
        if self.method in ("POST", "PATCH", "PUT", "DELETE"):
            extra["402"] = (
                "The plan does not allow it now: `quota_exceeded`, `spend_cap_reached`, `plan_limit_reached`, "
                "or `payment_overdue` (read-only after the dunning grace period)."
            )
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
        response = self.get_response_serializers()
        if self.method == "GET" and getattr(response, "__name__", "").startswith("Paginated"):
            parameters += [
                OpenApiParameter(
                    "cursor",
                    OpenApiTypes.STR,
                    OpenApiParameter.QUERY,
                    description="Opaque cursor from a previous page's `next` or `previous`.",
                ),
                OpenApiParameter(
                    "limit", OpenApiTypes.INT, OpenApiParameter.QUERY, description="Page size, 1 to 200 (default 50)."
                ),
            ]
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


_PAGINATED: dict[type, type] = {}


def paginated(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The cursor-paginated envelope of a list, for `extend_schema(responses=...)`."""
    if serializer_class not in _PAGINATED:
        name = serializer_class.__name__.removesuffix("Output")
        _PAGINATED[serializer_class] = type(
            f"Paginated{name}List",
            (serializers.Serializer,),
            {
                "next": serializers.URLField(allow_null=True, help_text="URL of the next page, or null."),
                "previous": serializers.URLField(allow_null=True, help_text="URL of the previous page, or null."),
                "results": serializer_class(many=True),
            },
        )
    return _PAGINATED[serializer_class]


def drop_trailing_slash_duplicates(endpoints: list, **kwargs) -> list:
    """PREPROCESSING_HOOK: document `/api/v1/x`, not also its accepted variant `/api/v1/x/`."""
    paths = {path for path, *_ in endpoints}
    return [endpoint for endpoint in endpoints if not (endpoint[0].endswith("/") and endpoint[0][:-1] in paths)]
