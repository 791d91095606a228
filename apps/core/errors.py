"""One error shape everywhere on the API: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A refused write from a service: `code` is stable for the API, `message` is for people.

    The API turns it into the error shape; the dashboard shows `message`.
    """

    def __init__(self, message: str, *, code: str, status: int = 400, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details or {}


class ApiError(exceptions.APIException):
    """An API error with a stable machine-readable code and structured details."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"
    default_detail = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(detail=message or self.default_detail, code=code or self.default_code)
        self.error_code = code or self.default_code
        self.details = details or {}
        if status_code is not None:
            self.status_code = status_code


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class ApiPermissionDenied(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class ApiAuthenticationFailed(exceptions.AuthenticationFailed):
    """401 with its own code; DRF adds WWW-Authenticate from the authenticator."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(detail=message, code=code)
        self.error_code = code
        self.details: dict[str, Any] = {}


_CODES = {
    exceptions.NotAuthenticated: ("not_authenticated", "Authentication credentials were not provided."),
    exceptions.NotFound: ("not_found", "Not found."),
    exceptions.MethodNotAllowed: ("method_not_allowed", None),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", None),
    exceptions.NotAcceptable: ("not_acceptable", None),
    exceptions.ParseError: ("malformed_body", None),
    exceptions.Throttled: ("rate_limited", None),
    exceptions.PermissionDenied: ("permission_denied", None),
}


def _describe(exc: exceptions.APIException) -> tuple[str, str, dict[str, Any]]:
    if isinstance(exc, ApiError | ApiAuthenticationFailed):
        return exc.error_code, str(exc.detail), exc.details
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return "validation_error", "Some fields are invalid; see details.", {"fields": fields}
    if isinstance(exc, exceptions.Throttled):
        retry_after = math.ceil(exc.wait or 0)
        message = f"Rate limit exceeded. Retry in {retry_after} seconds."
        return "rate_limited", message, {"retry_after": retry_after}
    for klass, (code, message) in _CODES.items():
        if isinstance(exc, klass):
            return code, message or str(exc.detail), {}
    codes = exc.get_codes()
    return (codes if isinstance(codes, str) else exc.default_code), str(exc.detail), {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF EXCEPTION_HANDLER: DRF's handling (rollback, headers) in our shape."""
    if isinstance(exc, ServiceError):
        exc = ApiError(exc.message, code=exc.code, status_code=exc.status, details=exc.details)
    elif isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    # Imported here: rest_framework.views imports our authentication class at import time.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, exceptions.APIException)
    code, message, details = _describe(exc)
    if isinstance(exc, exceptions.Throttled):
        response["Retry-After"] = str(details["retry_after"])
    response.data = error_body(code, message, details)
    return response


def json_error(status_code: int, code: str, message: str, details: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status_code)
