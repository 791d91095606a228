from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.api_keys import selectors, services
from apps.api_keys.api.serializers import ApiKeyCreatedOutput, ApiKeyCreateInput, ApiKeyOutput
from apps.core.api import TenantApi
from apps.core.schema import paginated


class ApiKeyListApi(TenantApi):
    required_scopes = {"GET": "admin", "POST": "admin"}
    # Tessera never stores a key's secret, not even for replays: a replayed creation
    # answers with "secret": null (docs/api.md, Idempotency).
    idempotency_redacted_fields = ("secret",)

    @extend_schema(
        responses=paginated(ApiKeyOutput),
        operation_id="api_keys_list",
        summary="List API keys (secrets are never returned)",
    )
    def get(self, request):
        return self.paginate(selectors.api_key_list(organization=self.organization), ApiKeyOutput)

    @extend_schema(
        request=ApiKeyCreateInput,
        responses={201: ApiKeyCreatedOutput},
        operation_id="api_keys_create",
        summary="Create an API key",
    )
    def post(self, request):
        data = self.parse(ApiKeyCreateInput, request.data)
        api_key, secret = services.api_key_create(organization=self.organization, actor=self.actor, **data)
        api_key.secret = secret
        # The only response that ever holds the secret: no client or proxy may cache it.
        return Response(
            ApiKeyCreatedOutput(api_key).data, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"}
        )


class ApiKeyDetailApi(TenantApi):
    required_scopes = {"GET": "admin"}

    @extend_schema(responses=ApiKeyOutput, operation_id="api_keys_retrieve", summary="Get an API key")
    def get(self, request, api_key_id):
        return Response(ApiKeyOutput(selectors.api_key_get(organization=self.organization, api_key_id=api_key_id)).data)


class ApiKeyRevokeApi(TenantApi):
    required_scopes = {"POST": "admin"}

    @extend_schema(
        request=None,
        responses=ApiKeyOutput,
        operation_id="api_keys_revoke",
        summary="Revoke an API key (the row is kept)",
    )
    def post(self, request, api_key_id):
        api_key = selectors.api_key_get(organization=self.organization, api_key_id=api_key_id)
        api_key = services.api_key_revoke(organization=self.organization, api_key=api_key, actor=self.actor)
        return Response(ApiKeyOutput(api_key).data)
