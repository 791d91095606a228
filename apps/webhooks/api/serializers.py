from rest_framework import serializers

from apps.webhooks.events import SUBSCRIBABLE_EVENT_TYPES, EventType
from apps.webhooks.models import DeliveryStatus
from apps.webhooks.services import MAX_ROTATION_GRACE_HOURS
from apps.webhooks.transport import MAX_URL_LENGTH


class WebhookEndpointOutput(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENT_TYPES))
    is_active = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    secret_last_four = serializers.SerializerMethodField(help_text="The last four characters of the signing secret.")
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until then deliveries are also signed with the previous secret (rotation)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_secret_last_four(self, endpoint) -> str:
        return endpoint.secret[-4:]


class WebhookEndpointSecretOutput(WebhookEndpointOutput):
    secret = serializers.CharField(
        help_text="The signing secret (whsec_…). Verify the Tessera-Signature header with it; keep it private."
    )


class WebhookSecretOutput(serializers.Serializer):
    secret = serializers.CharField(help_text="The current signing secret (whsec_…).")


class WebhookEndpointCreateInput(serializers.Serializer):
    url = serializers.CharField(max_length=MAX_URL_LENGTH, help_text="https:// URL that receives POST requests.")
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENT_TYPES), allow_empty=False, max_length=50
    )


class WebhookEndpointUpdateInput(serializers.Serializer):
    url = serializers.CharField(max_length=MAX_URL_LENGTH, required=False)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENT_TYPES),
        allow_empty=False,
        max_length=50,
        required=False,
    )
    is_active = serializers.BooleanField(required=False, help_text="false disables the endpoint; pending retries stop.")


class WebhookRotateSecretInput(serializers.Serializer):
    grace_period_hours = serializers.IntegerField(
        min_value=0,
        max_value=MAX_ROTATION_GRACE_HOURS,
        required=False,
        default=0,
        help_text="Keep signing with the old secret as well for this many hours (0: the old secret stops at once).",
    )


class WebhookDeliveryAttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    requested_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    response_status = serializers.IntegerField(allow_null=True)
    response_body = serializers.CharField(help_text="The first 2 KB of the response body, decoded as UTF-8.")
    error = serializers.CharField(help_text="Why the attempt failed when there was no 2xx: timeout, TLS, redirect…")


class WebhookDeliveryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    endpoint_id = serializers.UUIDField()
    event_id = serializers.CharField(source="event.public_id", help_text="The payload's id (evt_…).")
    event_type = serializers.CharField(source="event.type")
    status = serializers.ChoiceField(choices=DeliveryStatus.values)
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_response_status = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    resent_from_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    payload = serializers.JSONField(source="event.payload", help_text="The JSON body sent to the endpoint.")
    attempts = WebhookDeliveryAttemptOutput(many=True, source="attempts.all")


class WebhookDeliveryFilter(serializers.Serializer):
    endpoint_id = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=DeliveryStatus.values, required=False)
    event_type = serializers.ChoiceField(choices=EventType.values, required=False)
