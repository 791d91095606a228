"""`TenantApi`: the base of every tenant endpoint (STYLE.md section 3).

It authenticates the API key, resolves `self.organization` from it (never from the body
or a query parameter), refuses suspended organizations, checks the scope declared for
the method, rate-limits per key, and honours `Idempotency-Key` on POST.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_keys.scopes import scope_granted
from apps.core.actors import Actor, client_ip
from apps.core.errors import ApiError, ApiPermissionDenied
from apps.core.idempotency import IdempotentReplay, PendingIdempotency, idempotency_begin, idempotency_complete
from apps.core.pagination import CursorPagination
from apps.core.tenancy import request_scope

# Methods that read. OPTIONS/HEAD follow GET's scope.
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


class OrganizationIsActive(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        organization = request.auth.organization
        if organization.is_suspended:
            raise ApiPermissionDenied(
                "This organization is suspended. Contact Tessera support."
                + (f" Reason: {organization.suspended_reason}" if organization.suspended_reason else ""),
                code="organization_suspended",
            )
        return True


class OrganizationMayWrite(permissions.BasePermission):
    """Past due beyond the dunning grace period: reads only until the invoice is paid."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in _READ_METHODS or getattr(view, "allowed_when_read_only", False):
            return True
        # Imported here: billing sits above core; this is the one upward reference.
        from apps.billing.selectors import organization_limits

        if organization_limits(organization=request.auth.organization).is_read_only:
            raise ApiError(
                "This organization's payment is overdue and the grace period has ended, so it can only read "
                "until the invoice is paid. Update the card in the billing portal.",
                code="payment_overdue",
                status_code=402,
            )
        return True


class HasRequiredScope(permissions.BasePermission):
    """The scope declared in `view.required_scopes` for this method, else `admin` (fail closed)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        scope = view.required_scope_for(request.method)
        if scope is None or scope_granted(request.auth.scopes, scope):
            return True
        raise ApiPermissionDenied(
            f"This API key lacks the '{scope}' scope needed for {request.method} {request.path}.",
            code="missing_scope",
            details={"required_scope": scope, "granted_scopes": sorted(request.auth.scopes)},
        )


class TenantApi(APIView):
    """Subclasses declare `required_scopes = {"GET": "support:read", "POST": "support:write"}`.

    A method missing from the map needs `admin`. `None` means any valid key may call it.
    """

    required_scopes: ClassVar[dict[str, str | None]] = {}
    # Response fields never stored for Idempotency-Key replays (one-time secrets).
    idempotency_redacted_fields: ClassVar[tuple[str, ...]] = ()
    permission_classes = [permissions.IsAuthenticated, OrganizationIsActive, HasRequiredScope, OrganizationMayWrite]
    # True on endpoints an organization needs to pay its way out of read-only (the portal).
    allowed_when_read_only: ClassVar[bool] = False
    pagination_class = CursorPagination

    organization: Any
    _pending_idempotency: PendingIdempotency | None = None

    @classmethod
    def required_scope_for(cls, method: str) -> str | None:
        lookup = "GET" if method in _READ_METHODS else method
        return cls.required_scopes.get(lookup, "admin")

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        with request_scope():
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.organization = request.auth.organization
        self._pending_idempotency = None
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key is not None:
            self._pending_idempotency = idempotency_begin(
                organization_id=self.organization.id,
                key=key,
                method=request.method,
                path=request.path,
                body=request._request.body,
            )

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, IdempotentReplay):
            return exc.response()
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        pending = self._pending_idempotency
        if pending is not None and 200 <= response.status_code < 300:
            idempotency_complete(pending, response, redact=self.idempotency_redacted_fields)
        rate = getattr(request, "rate_limit", None)
        if rate:
            response["X-RateLimit-Limit"] = str(rate["limit"])
            response["X-RateLimit-Remaining"] = str(rate["remaining"])
            response["X-RateLimit-Reset"] = str(rate["reset"])
        return response

    # --- helpers for handlers --------------------------------------------------------

    @property
    def actor(self) -> Actor:
        api_key = self.request.auth
        role = "admin" if scope_granted(api_key.scopes, "admin") else "member"
        return Actor(via="api", role=role, api_key=api_key, ip_address=client_ip(self.request))

    def parse(self, serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def paginate(self, queryset: QuerySet, serializer_class: type[serializers.Serializer]) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)
