"""/api/v1 spike alerts of a monitor: the inbox (list, detail, acknowledge, resolve).

`ROUTES` is collected with the app's other routes (see apps/config/api_urls.py).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.routing import uuid
from apps.core.schema import paginated
from apps.sentiment import alerts
from apps.sentiment.models import AlertStatus
from apps.sentiment.selectors import monitor_get

READ = "sentiment:read"
WRITE = "sentiment:write"


class SpikeAlertFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=AlertStatus.choices, required=False)


class SpikeAlertTermOutput(serializers.Serializer):
    term = serializers.CharField()
    current_count = serializers.IntegerField(required=False)
    baseline_count = serializers.IntegerField(required=False)
    current_rate = serializers.FloatField()
    baseline_rate = serializers.FloatField()
    score = serializers.FloatField()


class SpikeAlertDocumentOutput(serializers.Serializer):
    id = serializers.CharField()
    text = serializers.CharField()
    url = serializers.CharField(allow_blank=True)
    published_at = serializers.CharField()


class SpikeAlertOutput(serializers.Serializer):
    id = serializers.UUIDField()
    monitor_id = serializers.UUIDField()
    topic = serializers.CharField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    current_negative = serializers.IntegerField()
    current_total = serializers.IntegerField()
    baseline_negative_per_hour = serializers.FloatField()
    baseline_negative_share = serializers.FloatField()
    score = serializers.FloatField()
    terms = SpikeAlertTermOutput(many=True)
    documents = SpikeAlertDocumentOutput(many=True)
    summary = serializers.CharField()
    status = serializers.ChoiceField(choices=AlertStatus.choices)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    changed_by = serializers.CharField(source="changed_by_label")
    created_at = serializers.DateTimeField()


class _MonitorAlertApi(TenantApi):
    def _monitor(self, monitor_id):
        return monitor_get(organization=self.organization, monitor_id=monitor_id)


class SpikeAlertListApi(_MonitorAlertApi):
    required_scopes = {"GET": READ}

    @extend_schema(
        parameters=[SpikeAlertFilter],
        responses=paginated(SpikeAlertOutput),
        operation_id="monitor_alerts_list",
        summary="A monitor's spike alerts, newest first",
    )
    def get(self, request, monitor_id):
        monitor = self._monitor(monitor_id)
        filters = self.parse(SpikeAlertFilter, request.query_params)
        queryset = alerts.spike_alert_list(organization=self.organization, monitor=monitor, **filters)
        return self.paginate(queryset, SpikeAlertOutput)


class SpikeAlertDetailApi(_MonitorAlertApi):
    required_scopes = {"GET": READ}

    @extend_schema(responses=SpikeAlertOutput, operation_id="monitor_alerts_retrieve", summary="Get a spike alert")
    def get(self, request, monitor_id, alert_id):
        monitor = self._monitor(monitor_id)
        alert = alerts.spike_alert_get(organization=self.organization, monitor=monitor, alert_id=alert_id)
        return Response(SpikeAlertOutput(alert).data)


class SpikeAlertAcknowledgeApi(_MonitorAlertApi):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        request=None,
        responses=SpikeAlertOutput,
        operation_id="monitor_alerts_acknowledge",
        summary="Acknowledge a spike alert",
    )
    def post(self, request, monitor_id, alert_id):
        monitor = self._monitor(monitor_id)
        alert = alerts.spike_alert_acknowledge(
            organization=self.organization, monitor=monitor, alert_id=alert_id, actor=self.actor
        )
        return Response(SpikeAlertOutput(alert).data)


class SpikeAlertResolveApi(_MonitorAlertApi):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        request=None,
        responses=SpikeAlertOutput,
        operation_id="monitor_alerts_resolve",
        summary="Resolve a spike alert",
    )
    def post(self, request, monitor_id, alert_id):
        monitor = self._monitor(monitor_id)
        alert = alerts.spike_alert_resolve(
            organization=self.organization, monitor=monitor, alert_id=alert_id, actor=self.actor
        )
        return Response(SpikeAlertOutput(alert).data)


_ALERTS = f"monitors/{uuid('monitor_id')}/alerts"
_ALERT = f"{_ALERTS}/{uuid('alert_id')}"

ROUTES: list = [
    (_ALERTS, SpikeAlertListApi, "monitor-alert-list"),
    (_ALERT, SpikeAlertDetailApi, "monitor-alert-detail"),
    (f"{_ALERT}/acknowledge", SpikeAlertAcknowledgeApi, "monitor-alert-acknowledge"),
    (f"{_ALERT}/resolve", SpikeAlertResolveApi, "monitor-alert-resolve"),
]
