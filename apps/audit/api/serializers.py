from rest_framework import serializers


class AuditActorOutput(serializers.Serializer):
    type = serializers.ChoiceField(choices=["user", "api_key", "staff", "system"])
    label = serializers.CharField()
    user_id = serializers.IntegerField(allow_null=True)
    api_key_id = serializers.UUIDField(allow_null=True)


class AuditEntryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    action = serializers.CharField()
    via = serializers.CharField()
    actor = serializers.SerializerMethodField()
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_label = serializers.CharField()
    metadata = serializers.DictField()
    ip_address = serializers.IPAddressField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_actor(self, entry) -> AuditActorOutput:
        if entry.actor_api_key_id:
            kind = "api_key"
        elif entry.via == "console":
            kind = "staff"
        elif entry.actor_user_id:
            kind = "user"
        else:
            kind = "system"
        return AuditActorOutput(
            {
                "type": kind,
                "label": entry.actor_label,
                "user_id": entry.actor_user_id,
                "api_key_id": entry.actor_api_key_id,
            }
        ).data


class AuditEntryFilter(serializers.Serializer):
    action = serializers.CharField(required=False, max_length=64, help_text="`api_key` or `api_key.created`")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
