"""Sign up, the signed-in landing redirect, and Django's auth views with our templates."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_http_methods

from apps.accounts.services import invitation_get_by_token, user_sign_up, user_sign_up_from_invitation
from apps.core.actors import client_ip
from apps.core.errors import ServiceError
from apps.dashboard.access import with_user_scope
from apps.dashboard.forms import LoginForm, SignUpForm
from apps.dashboard.views.common import safe_next_url


@with_user_scope
def home(request: HttpRequest) -> HttpResponse:
    if request.memberships:
        return redirect("dashboard:overview", org_slug=request.memberships[0].organization.slug)
    return redirect("dashboard:organizations")


def _pending_invitation(token: str):
    if not token:
        return None
    try:
        invitation = invitation_get_by_token(token)
    except ServiceError:
        return None
    return invitation if invitation.is_pending else None


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(safe_next_url(request, reverse("dashboard:home")))
    token = request.POST.get("invitation") or request.GET.get("invitation") or ""
    invitation = _pending_invitation(token)
    if invitation is not None:
        return _signup_from_invitation(request, token, invitation)
    form = SignUpForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user, organization = user_sign_up(**form.cleaned_data)
            except ServiceError as error:
                form.add_error("email" if error.code == "email_taken" else None, error.message)
            except ValidationError as error:
                form.add_error("password", error)
            else:
                login(request, user)
                messages.success(request, f"Welcome to Tessera. {organization.name} is ready.")
                fallback = reverse("dashboard:overview", kwargs={"org_slug": organization.slug})
                return redirect(safe_next_url(request, fallback))
        status = 400
    return render(
        request, "dashboard/auth/signup.html", {"form": form, "next": request.GET.get("next", "")}, status=status
    )


def _signup_from_invitation(request: HttpRequest, token: str, invitation) -> HttpResponse:
    form = SignUpForm(request.POST if request.method == "POST" else None, invitation=invitation)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user, membership = user_sign_up_from_invitation(
                    token=token,
                    password=form.cleaned_data["password"],
                    full_name=form.cleaned_data["full_name"],
                    ip_address=client_ip(request),
                )
            except ServiceError as error:
                form.add_error("email" if error.code == "email_taken" else None, error.message)
            except ValidationError as error:
                form.add_error("password", error)
            else:
                login(request, user)
                organization = membership.organization
                messages.success(request, f"Welcome to Tessera. You joined {organization.name} as {membership.role}.")
                return redirect("dashboard:overview", org_slug=organization.slug)
        status = 400
    context = {"form": form, "next": "", "invitation": invitation, "token": token}
    return render(request, "dashboard/auth/signup.html", context, status=status)


class LoginView(auth_views.LoginView):
    # NOTE: Django's auth views return TemplateResponse, rendered after the view returns.
    # That is fine here: these pages read no tenant rows, so they need no tenant context.
    template_name = "dashboard/auth/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    http_method_names = ["post", "options"]


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "dashboard/auth/password_reset_form.html"
    email_template_name = "emails/password_reset.txt"
    subject_template_name = "emails/password_reset_subject.txt"
    success_url = reverse_lazy("dashboard:password_reset_done")

    def form_valid(self, form):
        # Links point at the configured site, not at whatever Host header the request had.
        self.extra_email_context = {"site_url": settings.SITE_URL}
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "dashboard/auth/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "dashboard/auth/password_reset_confirm.html"
    success_url = reverse_lazy("dashboard:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "dashboard/auth/password_reset_complete.html"
