"""`Authorization: Bearer tsk_live_...` authentication for the REST API."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from apps.api_keys.models import ApiKey
from apps.api_keys.selectors import api_key_organization_id_for_hash
from apps.api_keys.services import api_key_hash, api_key_is_well_formed, api_key_mark_used
from apps.core.errors import ApiAuthenticationFailed
from apps.core.tenancy import activate_organization


@dataclass
class ApiKeyPrincipal:
    """`request.user` for key-authenticated requests: the key acts, not a person."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    @property
    def organization(self):
        return self.api_key.organization


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].decode("latin-1").lower() != self.keyword.lower() or len(header) != 2:
            raise ApiAuthenticationFailed(
                "Send the key as 'Authorization: Bearer tsk_live_...'.", code="invalid_authorization_header"
            )
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            secret = ""
        if not api_key_is_well_formed(secret):
            raise ApiAuthenticationFailed(
                "This is not a Tessera API key. Keys start with 'tsk_live_'.", code="api_key_malformed"
            )
        key_hash = api_key_hash(secret)
        organization_id = api_key_organization_id_for_hash(key_hash)
        if organization_id is None:
            raise ApiAuthenticationFailed("This API key does not exist.", code="api_key_invalid")
        activate_organization(organization_id)
        api_key = ApiKey.objects.for_org(organization_id).select_related("organization").get(key_hash=key_hash)
        if api_key.is_revoked:
            raise ApiAuthenticationFailed("This API key has been revoked.", code="api_key_revoked")
        if api_key.is_expired:
            raise ApiAuthenticationFailed("This API key has expired.", code="api_key_expired")
        api_key_mark_used(api_key=api_key)
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
