from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.response import Response

from apps.api_keys.scopes import scope_granted
from apps.core.api import TenantApi
from apps.core.errors import ApiPermissionDenied
from apps.core.schema import ErrorResponse, paginated
from apps.sentiment import retrain, selectors, services, upload
from apps.sentiment.api.serializers import (
    CorrectionInput,
    CorrectionOutput,
    DocumentFilter,
    DocumentOutput,
    DocumentsIngestInput,
    DocumentsIngestRequest,
    DocumentsUploadInput,
    IngestOutput,
    MonitorCreateInput,
    MonitorDetailOutput,
    MonitorOutput,
    MonitorRetrainInput,
    MonitorRetrainOutput,
    MonitorUpdateInput,
    TrendOutput,
    TrendQuery,
    UploadOutput,
)

READ, WRITE = "sentiment:read", "sentiment:write"


class MonitorMixin:
    def monitor(self, monitor_id):
        return selectors.monitor_get(organization=self.organization, monitor_id=monitor_id)

    def monitor_detail(self, monitor):
        counts = selectors.monitor_document_counts(organization=self.organization, monitor=monitor)
        monitor.document_counts = counts
        monitor.corrections_since_retrain = {
            "sentiment": monitor.sentiment_corrections_since_retrain,
            "topic": monitor.topic_corrections_since_retrain,
        }
        monitor.rescore = retrain.monitor_rescore_latest(organization=self.organization, monitor=monitor)
        return MonitorDetailOutput(monitor).data


class MonitorListApi(MonitorMixin, TenantApi):
    """Monitors: what an organization watches (topics, models, alert settings)."""

    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(responses=paginated(MonitorOutput), operation_id="monitors_list", summary="List monitors")
    def get(self, request):
        return self.paginate(selectors.monitor_list(organization=self.organization), MonitorOutput)

    @extend_schema(
        request=MonitorCreateInput,
        responses={201: MonitorDetailOutput},
        operation_id="monitors_create",
        summary="Create a monitor",
    )
    def post(self, request):
        data = self.parse(MonitorCreateInput, request.data)
        monitor = services.monitor_create(organization=self.organization, actor=self.actor, **data)
        return Response(self.monitor_detail(monitor), status=status.HTTP_201_CREATED)


class MonitorDetailApi(MonitorMixin, TenantApi):
    required_scopes = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(
        responses=MonitorDetailOutput,
        operation_id="monitors_retrieve",
        summary="Get a monitor with its documents per status",
    )
    def get(self, request, monitor_id):
        return Response(self.monitor_detail(self.monitor(monitor_id)))

    @extend_schema(
        request=MonitorUpdateInput,
        responses=MonitorDetailOutput,
        operation_id="monitors_update",
        summary="Change a monitor",
    )
    def patch(self, request, monitor_id):
        monitor = self.monitor(monitor_id)
        data = self.parse(MonitorUpdateInput, request.data, partial=True)
        monitor = services.monitor_update(organization=self.organization, monitor=monitor, actor=self.actor, **data)
        return Response(self.monitor_detail(monitor))

    @extend_schema(
        responses={204: None},
        operation_id="monitors_destroy",
        summary="Delete a monitor with its documents, trends and alerts",
    )
    def delete(self, request, monitor_id):
        services.monitor_delete(organization=self.organization, monitor=self.monitor(monitor_id), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentListApi(MonitorMixin, TenantApi):
    """Documents of a monitor. A POST stores a batch and scores it (or queues or defers it)."""

    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        parameters=[DocumentFilter],
        responses=paginated(DocumentOutput),
        operation_id="monitors_documents_list",
        summary="List a monitor's documents",
    )
    def get(self, request, monitor_id):
        monitor = self.monitor(monitor_id)
        filters = self.parse(DocumentFilter, request.query_params)
        documents = selectors.document_list(organization=self.organization, monitor=monitor, filters=filters)
        return self.paginate(documents, DocumentOutput)

    @extend_schema(
        request=DocumentsIngestRequest,
        responses={
            201: OpenApiResponse(
                IngestOutput,
                description="Good rows are stored even when others are rejected (`errors`); documents over the "
                "plan's allowance are stored as deferred (`deferral` says why and when it resets).",
            )
        },
        operation_id="monitors_documents_create",
        summary="Ingest up to 1,000 documents",
    )
    def post(self, request, monitor_id):
        monitor = self.monitor(monitor_id)
        data = self.parse(DocumentsIngestInput, request.data)
        result = services.documents_ingest(
            organization=self.organization, monitor=monitor, actor=self.actor, rows=data["documents"]
        )
        return Response(IngestOutput(result).data, status=status.HTTP_201_CREATED)


class DocumentDetailApi(MonitorMixin, TenantApi):
    required_scopes = {"GET": READ}

    @extend_schema(responses=DocumentOutput, operation_id="monitors_documents_retrieve", summary="Get a document")
    def get(self, request, monitor_id, document_id):
        monitor = self.monitor(monitor_id)
        document = selectors.document_get(organization=self.organization, monitor=monitor, document_id=document_id)
        return Response(DocumentOutput(document).data)


class DocumentCorrectionApi(MonitorMixin, TenantApi):
    """A person's fix of a document's sentiment or topic; trend counts move with it."""

    required_scopes = {"POST": WRITE}

    @extend_schema(
        request=CorrectionInput,
        responses={201: CorrectionOutput},
        operation_id="monitors_documents_corrections_create",
        summary="Correct a document's sentiment or topic",
    )
    def post(self, request, monitor_id, document_id):
        monitor = self.monitor(monitor_id)
        data = self.parse(CorrectionInput, request.data)
        correction = services.document_correct(
            organization=self.organization, monitor=monitor, document_id=document_id, actor=self.actor, **data
        )
        return Response(CorrectionOutput(correction).data, status=status.HTTP_201_CREATED)


class TrendApi(MonitorMixin, TenantApi):
    """Documents per hour or day (UTC, by publication time), topic and sentiment."""

    required_scopes = {"GET": READ}

    @extend_schema(
        parameters=[TrendQuery],
        responses=TrendOutput,
        operation_id="monitors_trends_retrieve",
        summary="Sentiment trends of a monitor",
    )
    def get(self, request, monitor_id):
        monitor = self.monitor(monitor_id)
        query = self.parse(TrendQuery, request.query_params)
        until = query.get("until") or timezone.now()
        since = query.get("since") or until - timedelta(days=7)
        trends = selectors.trend_series(
            organization=self.organization,
            monitor=monitor,
            granularity=query["granularity"],
            since=since,
            until=until,
            topic=query.get("topic"),
            sentiment=query.get("sentiment"),
        )
        return Response(TrendOutput(trends).data)


class MonitorRetrainApi(MonitorMixin, TenantApi):
    """Train the monitor's sentiment or topic model on its corrections (the holdout gate decides promotion)."""

    # NOTE: training spends the organization's training minutes, so the key needs the
    # `training` scope as well as `sentiment:write` (checked in the handler: one scope per method above).
    required_scopes = {"POST": WRITE}

    @extend_schema(
        request=MonitorRetrainInput,
        responses={201: MonitorRetrainOutput},
        operation_id="monitors_retrain_create",
        summary="Retrain a monitor's model from its corrections",
    )
    def post(self, request, monitor_id):
        if not scope_granted(request.auth.scopes, "training"):
            raise ApiPermissionDenied(
                f"This API key lacks the 'training' scope needed for {request.method} {request.path}.",
                code="missing_scope",
                details={"required_scope": "training", "granted_scopes": sorted(request.auth.scopes)},
            )
        monitor = self.monitor(monitor_id)
        data = self.parse(MonitorRetrainInput, request.data)
        job = retrain.monitor_training_dataset_create(
            organization=self.organization, monitor=monitor, field=data["field"], actor=self.actor
        )
        return Response(MonitorRetrainOutput(job).data, status=status.HTTP_201_CREATED)


class RawFileParser(BaseParser):
    """A raw CSV body, passed on as bytes: apps/sentiment/upload.py reads it."""

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:
        return stream.read() if stream is not None else b""


class RawTsvParser(RawFileParser):
    media_type = "text/tab-separated-values"


class RawJsonLinesParser(RawFileParser):
    media_type = "application/jsonl"


class RawNdjsonParser(RawFileParser):
    media_type = "application/x-ndjson"


RAW_FILE_PARSERS = [RawFileParser, RawTsvParser, RawJsonLinesParser, RawNdjsonParser]
RAW_FILE_TYPES = tuple(parser.media_type for parser in RAW_FILE_PARSERS)


class DocumentUploadApi(MonitorMixin, TenantApi):
    """Ingest a CSV, TSV or JSON-lines file of documents (checked like a dataset file, stored like a batch)."""

    required_scopes = {"POST": WRITE}
    parser_classes = [MultiPartParser, *RAW_FILE_PARSERS]

    @extend_schema(
        request={
            "multipart/form-data": DocumentsUploadInput,
            **{media_type: {"type": "string", "format": "binary"} for media_type in RAW_FILE_TYPES},
        },
        responses={
            201: OpenApiResponse(
                UploadOutput,
                description="Good rows are stored even when others are rejected (`errors`, with their row or "
                "line number); formula cells reject their row. Counts add up the batches of 1,000.",
            ),
            413: OpenApiResponse(
                ErrorResponse,
                description="Larger than SENTIMENT_MAX_UPLOAD_BYTES (`request_too_large`, `file_too_large`) or more "
                "than 50,000 rows (`too_many_rows`). Nothing was stored.",
            ),
            415: OpenApiResponse(ErrorResponse, description="Not a CSV, TSV or JSON-lines file."),
            422: OpenApiResponse(
                ErrorResponse,
                description="The file was refused (`file_invalid`: empty, binary, not UTF-8, no `text` column): "
                "`details.errors` lists the problems with their row. Nothing was stored.",
            ),
        },
        operation_id="monitors_documents_upload_create",
        summary="Ingest documents from a CSV or JSON-lines file",
    )
    def post(self, request, monitor_id):
        monitor = self.monitor(monitor_id)
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type in RAW_FILE_TYPES:
            data, filename = request.data, ""  # a raw body's format is its Content-Type
        else:
            file = self.parse(DocumentsUploadInput, request.data)["file"]
            data, filename, content_type = file.read(), file.name, file.content_type or ""
        result = upload.documents_upload(
            organization=self.organization,
            monitor=monitor,
            actor=self.actor,
            data=data,
            filename=filename,
            content_type=content_type,
        )
        return Response(UploadOutput(result).data, status=status.HTTP_201_CREATED)
