"""/api/v1/ routes. Resource-style, trailing slash optional."""

from django.urls import re_path

from apps.accounts.api import views as accounts
from apps.api_keys.api import views as api_keys
from apps.audit.api import views as audit

UUID = r"(?P<{}>[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})"


def route(pattern: str, view, name: str):
    return re_path(rf"^{pattern}/?$", view.as_view(), name=name)


urlpatterns = [
    route("organization", accounts.OrganizationDetailApi, "organization-detail"),
    route("members", accounts.MemberListApi, "member-list"),
    route(f"members/{UUID.format('member_id')}", accounts.MemberDetailApi, "member-detail"),
    route("invitations", accounts.InvitationListApi, "invitation-list"),
    route(f"invitations/{UUID.format('invitation_id')}/revoke", accounts.InvitationRevokeApi, "invitation-revoke"),
    route("api-keys", api_keys.ApiKeyListApi, "api-key-list"),
    route(f"api-keys/{UUID.format('api_key_id')}", api_keys.ApiKeyDetailApi, "api-key-detail"),
    route(f"api-keys/{UUID.format('api_key_id')}/revoke", api_keys.ApiKeyRevokeApi, "api-key-revoke"),
    route("audit-log", audit.AuditEntryListApi, "audit-log"),
]
