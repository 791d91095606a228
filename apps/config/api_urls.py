"""/api/v1/ routes. Resource-style, trailing slash optional."""

from django.urls import re_path

from apps.accounts.api import views as accounts
from apps.api_keys.api import views as api_keys
from apps.audit.api import views as audit

UUID = r"(?P<{}>[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})"


def route(pattern: str, view, name: str):
    # The canonical route has no trailing slash; the slash variant is accepted too and
    # left out of the OpenAPI schema (apps.core.schema.drop_trailing_slash_duplicates).
    return re_path(rf"^{pattern}$", view.as_view(), name=name)


def slash_variant(pattern: str, view, name: str):
    return re_path(rf"^{pattern}/$", view.as_view(), name=f"{name}-slash")


ROUTES = [
    ("organization", accounts.OrganizationDetailApi, "organization-detail"),
    ("members", accounts.MemberListApi, "member-list"),
    (f"members/{UUID.format('member_id')}", accounts.MemberDetailApi, "member-detail"),
    ("invitations", accounts.InvitationListApi, "invitation-list"),
    (f"invitations/{UUID.format('invitation_id')}/revoke", accounts.InvitationRevokeApi, "invitation-revoke"),
    ("api-keys", api_keys.ApiKeyListApi, "api-key-list"),
    (f"api-keys/{UUID.format('api_key_id')}", api_keys.ApiKeyDetailApi, "api-key-detail"),
    (f"api-keys/{UUID.format('api_key_id')}/revoke", api_keys.ApiKeyRevokeApi, "api-key-revoke"),
    ("audit-log", audit.AuditEntryListApi, "audit-log"),
]

urlpatterns = [route(*spec) for spec in ROUTES] + [slash_variant(*spec) for spec in ROUTES]
