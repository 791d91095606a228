from rest_framework import serializers

from apps.api_keys.models import API_KEY_STATUSES
from apps.api_keys.scopes import ALL_SCOPES


class ApiKeyOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The typed prefix and first characters, e.g. tsk_live_Ab3x.")
    last_four = serializers.CharField()
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ALL_SCOPES))
    status = serializers.ChoiceField(choices=API_KEY_STATUSES)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeyCreatedOutput(ApiKeyOutput):
    secret = serializers.CharField(
        allow_null=True,
        help_text=(
            "The full key. Shown only in this response; store it now. Null when this is an "
            "Idempotency-Key replay: the secret is never stored, so revoke that key and create another."
        ),
    )


class ApiKeyCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ALL_SCOPES), allow_empty=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
