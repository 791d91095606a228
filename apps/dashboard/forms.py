"""Input validation for dashboard pages. Forms validate; services decide and write."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from apps.accounts.login_throttle import LoginThrottleMixin
from apps.accounts.models import Role, User
from apps.api_keys.scopes import ALL_SCOPES, SCOPE_DESCRIPTIONS


class LoginForm(LoginThrottleMixin, AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    error_messages = {
        "invalid_login": "That email and password don't match an account. Check both and try again.",
        "inactive": "This account is disabled.",
    }


class SignUpForm(forms.Form):
    full_name = forms.CharField(
        label="Full name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(label="Work email", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not a common or all-numeric password.",
    )
    organization_name = forms.CharField(
        label="Organization name",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
        help_text="Your company or team. You can rename it later.",
    )

    def __init__(self, *args, invitation=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if invitation is not None:
            # Joining through an invitation: the address is the invited one, and the person
            # joins that organization instead of creating their own.
            del self.fields["organization_name"]
            self.fields["email"].initial = invitation.email
            self.fields["email"].disabled = True
            self.fields["email"].help_text = "The address this invitation was sent to."

    def clean(self) -> dict:
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            # The same validators the service runs, here so the message sits under the field.
            candidate = User(email=cleaned.get("email", ""), full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class OrganizationForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=100)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="Something that tells you where the key is used, like “Production backend”.",
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=[(scope, scope) for scope in ALL_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
    )
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working at the end of this day (UTC).",
    )

    scope_descriptions = SCOPE_DESCRIPTIONS

    def clean_expires_on(self) -> date | None:
        expires_on = self.cleaned_data.get("expires_on")
        if expires_on is not None and expires_on < datetime.now(UTC).date():
            raise forms.ValidationError("Choose today or a later date.")
        return expires_on

    @property
    def expires_at(self) -> datetime | None:
        expires_on = self.cleaned_data.get("expires_on")
        return datetime.combine(expires_on, time.max, tzinfo=UTC) if expires_on else None

    def scope_options(self) -> list[dict]:
        """Each scope with its description and whether it is ticked, for the checkbox grid."""
        chosen = set(self.data.getlist("scopes")) if self.is_bound else set()
        return [
            {"value": scope, "description": SCOPE_DESCRIPTIONS.get(scope, ""), "checked": scope in chosen}
            for scope in ALL_SCOPES
        ]


def role_choices(*, actor_role: str) -> list[tuple[str, str]]:
    """Roles the actor may grant: only owners hand out ownership (the service enforces it too)."""
    return [(value, label) for value, label in Role.choices if value != Role.OWNER or actor_role == Role.OWNER]


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address", widget=forms.EmailInput(attrs={"placeholder": "name@company.com"}))
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args, actor_role: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(actor_role=actor_role)


class RoleChangeForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


AUDIT_ACTION_CHOICES: list[tuple[str, str]] = [
    ("", "All actions"),
    ("api_key", "API keys: all"),
    ("api_key.created", "API key created"),
    ("api_key.revoked", "API key revoked"),
    ("member", "Members: all"),
    ("member.role_changed", "Member role changed"),
    ("member.removed", "Member removed"),
    ("member.left", "Member left"),
    ("invitation", "Invitations: all"),
    ("invitation.created", "Invitation sent"),
    ("invitation.accepted", "Invitation accepted"),
    ("invitation.revoked", "Invitation revoked"),
    ("organization", "Organization: all"),
    ("organization.created", "Organization created"),
    ("organization.updated", "Organization updated"),
    ("dataset", "Datasets: all"),
    ("dataset.uploaded", "Dataset uploaded"),
    ("training_job", "Training jobs: all"),
    ("training_job.created", "Training job started"),
    ("training_job.cancelled", "Training job cancelled"),
    ("model_version", "Model versions: all"),
    ("model_version.created", "Model version created"),
    ("model_version.promoted", "Model version promoted"),
    ("model_version.rolled_back", "Model version rolled back"),
    ("webhook_endpoint", "Webhook endpoints: all"),
    ("webhook_endpoint.created", "Webhook endpoint added"),
    ("webhook_endpoint.updated", "Webhook endpoint updated"),
    ("webhook_endpoint.deleted", "Webhook endpoint deleted"),
    ("webhook_endpoint.secret_revealed", "Webhook secret revealed"),
    ("webhook_endpoint.secret_rotated", "Webhook secret rotated"),
    ("webhook_endpoint.test_sent", "Webhook test event sent"),
    ("webhook_delivery.resent", "Webhook delivery resent"),
    ("billing", "Billing: all"),
    ("billing.checkout_started", "Checkout started"),
    ("billing.portal_opened", "Billing portal opened"),
    ("billing.spend_cap_changed", "Spend cap changed"),
    ("billing.subscription_synced", "Subscription synced from Stripe"),
]


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label="Action", choices=AUDIT_ACTION_CHOICES, required=False)


# PositiveIntegerField holds up to $21.4M in cents; a cap above this is a conversation with us.
SPEND_CAP_MAX_DOLLARS = 1_000_000


class SpendCapForm(forms.Form):
    """The owner's ceiling on overage charges per month, entered in dollars; "clear" removes it."""

    spend_cap = forms.DecimalField(
        label="Spend cap (USD a month)",
        min_value=0,
        max_value=SPEND_CAP_MAX_DOLLARS,
        max_digits=9,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal", "placeholder": "250"}),
        help_text="Overage charges stop here: usage that would cost more is refused until next month. "
        "0 allows no overage at all.",
        error_messages={
            "required": "Enter an amount in dollars, or remove the cap.",
            "invalid": "Enter an amount in dollars, such as 250 or 99.50.",
            "min_value": "The spend cap cannot be negative.",
            "max_value": f"Enter ${SPEND_CAP_MAX_DOLLARS:,} or less; contact us for a higher cap.",
            "max_decimal_places": "Use at most two decimals (whole cents).",
            "max_digits": f"Enter ${SPEND_CAP_MAX_DOLLARS:,} or less; contact us for a higher cap.",
            "max_whole_digits": f"Enter ${SPEND_CAP_MAX_DOLLARS:,} or less; contact us for a higher cap.",
        },
    )
    action = forms.ChoiceField(choices=[("set", "Save"), ("clear", "Remove cap")], initial="set")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound and self.data.get("action") == "clear":
            self.fields["spend_cap"].required = False

    @property
    def spend_cap_cents(self) -> int | None:
        if self.cleaned_data["action"] == "clear":
            return None
        return int(self.cleaned_data["spend_cap"] * 100)


class CheckoutForm(forms.Form):
    plan = forms.SlugField(max_length=40)


def dollars(cents: int | None) -> Decimal | None:
    """Cents as a two-decimal dollar amount for a form's initial value."""
    return None if cents is None else (Decimal(cents) / 100).quantize(Decimal("0.01"))


# --- Sentiment monitoring -----------------------------------------------------------------


class MonitorForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    description = forms.CharField(
        label="Description", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
    topics = forms.CharField(
        label="Topics",
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "fraud: scams, stolen cards, phishing\nfees: charges"}),
        help_text="One topic a line, as name: description. The description tells the model what belongs there. "
        "Texts that fit no topic go to 'other'.",
    )

    def clean_topics(self) -> list[dict[str, str]]:
        """Lines to [{"name", "description"}]; the service decides what is a valid topic."""
        topics = []
        for line in self.cleaned_data["topics"].splitlines():
            if line.strip():
                name, _, description = line.partition(":")
                topics.append({"name": name.strip(), "description": description.strip()})
        return topics


class DocumentFilterForm(forms.Form):
    """The drill-down filters; an invalid value is dropped (a link must never 400)."""

    topic = forms.ChoiceField(label="Topic", required=False)
    sentiment = forms.ChoiceField(label="Sentiment", required=False)
    status = forms.ChoiceField(label="Status", required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive."
    )
    q = forms.CharField(label="Text contains", required=False, max_length=200)

    def __init__(self, *args, topics: list[str], sentiments, statuses, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topic"].choices = [("", "All topics"), *((name, name) for name in topics)]
        self.fields["sentiment"].choices = [("", "All sentiments"), *sentiments]
        self.fields["status"].choices = [("", "All statuses"), *statuses]

    def selector_filters(self) -> dict:
        """For `document_list`: dates become UTC bounds, `until` is the whole day."""
        self.is_valid()  # cleaned_data then holds the valid fields only
        data = dict(self.cleaned_data)
        if data.get("since"):
            data["since"] = datetime.combine(data["since"], time.min, tzinfo=UTC)
        if data.get("until"):
            data["until"] = datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=UTC)
        return {name: value for name, value in data.items() if value}


class DocumentCorrectionForm(forms.Form):
    sentiment = forms.ChoiceField(label="Sentiment")
    topic = forms.ChoiceField(label="Topic")

    def __init__(self, *args, topics: list[str], sentiments, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sentiment"].choices = list(sentiments)
        self.fields["topic"].choices = [(name, name) for name in topics]
