"""/api/v1/ routes. Resource-style, trailing slash optional.

Each app lists its own routes as `(pattern, view, name)` in `apps/<app>/api/urls.py`.
"""

from apps.accounts.api import views as accounts
from apps.api_keys.api import views as api_keys
from apps.audit.api import views as audit
from apps.billing.api.urls import ROUTES as BILLING_ROUTES
from apps.core.routing import route, slash_variant, uuid
from apps.datasets.api.urls import ROUTES as DATASET_ROUTES
from apps.metering.api.urls import ROUTES as METERING_ROUTES
from apps.sentiment.api.urls import ROUTES as SENTIMENT_ROUTES
from apps.training.api.urls import ROUTES as TRAINING_ROUTES
from apps.webhooks.api.urls import ROUTES as WEBHOOK_ROUTES

ROUTES = [
    ("organization", accounts.OrganizationDetailApi, "organization-detail"),
    ("members", accounts.MemberListApi, "member-list"),
    (f"members/{uuid('member_id')}", accounts.MemberDetailApi, "member-detail"),
    ("invitations", accounts.InvitationListApi, "invitation-list"),
    (f"invitations/{uuid('invitation_id')}/revoke", accounts.InvitationRevokeApi, "invitation-revoke"),
    ("api-keys", api_keys.ApiKeyListApi, "api-key-list"),
    (f"api-keys/{uuid('api_key_id')}", api_keys.ApiKeyDetailApi, "api-key-detail"),
    (f"api-keys/{uuid('api_key_id')}/revoke", api_keys.ApiKeyRevokeApi, "api-key-revoke"),
    ("audit-log", audit.AuditEntryListApi, "audit-log"),
    *DATASET_ROUTES,
    *TRAINING_ROUTES,
    *WEBHOOK_ROUTES,
    *METERING_ROUTES,
    *BILLING_ROUTES,
    *SENTIMENT_ROUTES,
]

urlpatterns = [route(*spec) for spec in ROUTES] + [slash_variant(*spec) for spec in ROUTES]
