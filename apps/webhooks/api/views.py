from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.schema import paginated
from apps.webhooks import selectors, services
from apps.webhooks.api.serializers import (
    WebhookDeliveryFilter,
    WebhookDeliveryOutput,
    WebhookEndpointCreateInput,
    WebhookEndpointOutput,
    WebhookEndpointSecretOutput,
    WebhookEndpointUpdateInput,
    WebhookRotateSecretInput,
    WebhookSecretOutput,
)
from apps.webhooks.events import EventType
from apps.webhooks.models import DeliveryStatus

# Every webhook endpoint needs `admin`: endpoints carry signing secrets, and deliveries show
# what the organization's servers answered.
ADMIN = "admin"
NO_STORE = {"Cache-Control": "no-store"}


class WebhookEndpointListApi(TenantApi):
    required_scopes = {"GET": ADMIN, "POST": ADMIN}

    @extend_schema(
        responses=paginated(WebhookEndpointOutput),
        operation_id="webhook_endpoints_list",
        summary="List webhook endpoints (without secrets)",
    )
    def get(self, request):
        return self.paginate(selectors.webhook_endpoint_list(organization=self.organization), WebhookEndpointOutput)

    @extend_schema(
        request=WebhookEndpointCreateInput,
        responses={201: WebhookEndpointSecretOutput},
        operation_id="webhook_endpoints_create",
        summary="Register a webhook endpoint (the response holds its signing secret)",
    )
    def post(self, request):
        data = self.parse(WebhookEndpointCreateInput, request.data)
        endpoint = services.webhook_endpoint_create(organization=self.organization, actor=self.actor, **data)
        return Response(WebhookEndpointSecretOutput(endpoint).data, status=status.HTTP_201_CREATED, headers=NO_STORE)


class WebhookEndpointDetailApi(TenantApi):
    required_scopes = {"GET": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN}

    def _endpoint(self, endpoint_id):
        return selectors.webhook_endpoint_get(organization=self.organization, endpoint_id=endpoint_id)

    @extend_schema(
        responses=WebhookEndpointOutput, operation_id="webhook_endpoints_retrieve", summary="Get an endpoint"
    )
    def get(self, request, endpoint_id):
        return Response(WebhookEndpointOutput(self._endpoint(endpoint_id)).data)

    @extend_schema(
        request=WebhookEndpointUpdateInput,
        responses=WebhookEndpointOutput,
        operation_id="webhook_endpoints_update",
        summary="Change an endpoint's URL, description, event types, or enable/disable it",
    )
    def patch(self, request, endpoint_id):
        endpoint = self._endpoint(endpoint_id)
        data = self.parse(WebhookEndpointUpdateInput, request.data)
        endpoint = services.webhook_endpoint_update(
            organization=self.organization, endpoint=endpoint, actor=self.actor, **data
        )
        return Response(WebhookEndpointOutput(endpoint).data)

    @extend_schema(
        responses={204: None},
        operation_id="webhook_endpoints_destroy",
        summary="Delete an endpoint with its delivery log",
    )
    def delete(self, request, endpoint_id):
        services.webhook_endpoint_delete(
            organization=self.organization, endpoint=self._endpoint(endpoint_id), actor=self.actor
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointSecretApi(TenantApi):
    required_scopes = {"GET": ADMIN}

    @extend_schema(
        responses=WebhookSecretOutput,
        operation_id="webhook_endpoints_secret_retrieve",
        summary="Reveal an endpoint's signing secret (audited)",
    )
    def get(self, request, endpoint_id):
        endpoint = selectors.webhook_endpoint_get(organization=self.organization, endpoint_id=endpoint_id)
        secret = services.webhook_endpoint_reveal_secret(
            organization=self.organization, endpoint=endpoint, actor=self.actor
        )
        return Response({"secret": secret}, headers=NO_STORE)


class WebhookEndpointRotateSecretApi(TenantApi):
    required_scopes = {"POST": ADMIN}
    # A replay must not hand out the secret again from the idempotency store.
    idempotency_redacted_fields = ("secret",)

    @extend_schema(
        request=WebhookRotateSecretInput,
        responses=WebhookEndpointSecretOutput,
        operation_id="webhook_endpoints_rotate_secret",
        summary="Replace the signing secret, optionally keeping the old one valid for a grace period",
    )
    def post(self, request, endpoint_id):
        endpoint = selectors.webhook_endpoint_get(organization=self.organization, endpoint_id=endpoint_id)
        data = self.parse(WebhookRotateSecretInput, request.data)
        endpoint = services.webhook_endpoint_rotate_secret(
            organization=self.organization, endpoint=endpoint, actor=self.actor, **data
        )
        return Response(WebhookEndpointSecretOutput(endpoint).data, headers=NO_STORE)


class WebhookEndpointTestApi(TenantApi):
    required_scopes = {"POST": ADMIN}

    @extend_schema(
        request=None,
        responses={202: WebhookDeliveryOutput},
        operation_id="webhook_endpoints_test",
        summary="Send a webhook.test event to this endpoint only",
    )
    def post(self, request, endpoint_id):
        endpoint = selectors.webhook_endpoint_get(organization=self.organization, endpoint_id=endpoint_id)
        delivery = services.webhook_endpoint_send_test(
            organization=self.organization, endpoint=endpoint, actor=self.actor
        )
        delivery = selectors.webhook_delivery_get(organization=self.organization, delivery_id=delivery.id)
        return Response(WebhookDeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(TenantApi):
    required_scopes = {"GET": ADMIN}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "endpoint_id", OpenApiTypes.UUID, OpenApiParameter.QUERY, description="Only this endpoint."
            ),
            OpenApiParameter("status", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=DeliveryStatus.values),
            OpenApiParameter("event_type", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=EventType.values),
        ],
        responses=paginated(WebhookDeliveryOutput),
        operation_id="webhook_deliveries_list",
        summary="List deliveries with their attempts, newest first",
    )
    def get(self, request):
        filters = self.parse(WebhookDeliveryFilter, request.query_params)
        deliveries = selectors.webhook_delivery_list(organization=self.organization, **filters)
        return self.paginate(deliveries, WebhookDeliveryOutput)


class WebhookDeliveryDetailApi(TenantApi):
    required_scopes = {"GET": ADMIN}

    @extend_schema(
        responses=WebhookDeliveryOutput, operation_id="webhook_deliveries_retrieve", summary="Get a delivery"
    )
    def get(self, request, delivery_id):
        delivery = selectors.webhook_delivery_get(organization=self.organization, delivery_id=delivery_id)
        return Response(WebhookDeliveryOutput(delivery).data)


class WebhookDeliveryResendApi(TenantApi):
    required_scopes = {"POST": ADMIN}

    @extend_schema(
        request=None,
        responses={202: WebhookDeliveryOutput},
        operation_id="webhook_deliveries_resend",
        summary="Send the same event to the same endpoint again, as a new delivery",
    )
    def post(self, request, delivery_id):
        delivery = selectors.webhook_delivery_get(organization=self.organization, delivery_id=delivery_id)
        resent = services.webhook_delivery_resend(organization=self.organization, delivery=delivery, actor=self.actor)
        resent = selectors.webhook_delivery_get(organization=self.organization, delivery_id=resent.id)
        return Response(WebhookDeliveryOutput(resent).data, status=status.HTTP_202_ACCEPTED)
