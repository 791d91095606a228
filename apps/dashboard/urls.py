from django.urls import include, path

from apps.dashboard.views import (
    api_keys,
    auth,
    billing,
    datasets,
    organizations,
    pages,
    sentiment,
    team,
    training,
    webhooks,
)

app_name = "dashboard"

organization_patterns = [
    path("", pages.overview, name="overview"),
    path("api-keys/", api_keys.api_keys, name="api_keys"),
    path("api-keys/create/", api_keys.api_key_create_view, name="api_key_create"),
    path("api-keys/<uuid:api_key_id>/revoke/", api_keys.api_key_revoke_view, name="api_key_revoke"),
    path("team/", team.team, name="team"),
    path("team/invitations/", team.invitation_create_view, name="invitation_create"),
    path("team/invitations/<uuid:invitation_id>/revoke/", team.invitation_revoke_view, name="invitation_revoke"),
    path("team/members/<uuid:membership_id>/role/", team.member_role_view, name="member_role"),
    path("team/members/<uuid:membership_id>/remove/", team.member_remove_view, name="member_remove"),
    path("audit/", pages.audit_log, name="audit"),
    path("settings/", pages.settings_view, name="settings"),
    path("products/", pages.products, name="products"),
    path("datasets/", include(datasets.urlpatterns)),
    # Training jobs (training/...) and model versions (models/...).
    path("", include(training.urlpatterns)),
    path("webhooks/", include(webhooks.urlpatterns)),
    path("usage/", include(billing.urlpatterns)),
    path("sentiment/", include(sentiment.urlpatterns)),
]

urlpatterns = [
    path("", auth.home, name="home"),
    path("signup/", auth.signup, name="signup"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", auth.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("password-reset/complete/", auth.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("orgs/", organizations.organization_list, name="organizations"),
    path("invitations/<str:token>/", organizations.invitation_detail, name="invitation_accept"),
    path("o/<slug:org_slug>/", include(organization_patterns)),
]
