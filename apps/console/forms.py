from django import forms

from apps.console.services import SUSPENDED_REASON_MAX_LENGTH


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=SUSPENDED_REASON_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown to the organization's members on their dashboard and in API error messages.",
        error_messages={"required": "Give a reason: the organization's members will see it."},
    )
