from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.errors import ApiError
from apps.core.schema import ErrorResponse, paginated
from apps.datasets import selectors, services
from apps.datasets.api.serializers import (
    DatasetDryRunOutput,
    DatasetOutput,
    DatasetUploadInput,
    DatasetUploadQuery,
    DatasetVersionOutput,
    DatasetVersionSummaryOutput,
    DatasetVersionUploadInput,
)


class JsonLinesParser(BaseParser):
    """A raw JSON-lines body, passed on as bytes: the dataset validator reads it."""

    media_type = "application/jsonl"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:
        return stream.read() if stream is not None else b""


class NdjsonParser(JsonLinesParser):
    media_type = "application/x-ndjson"


UPLOAD_PARSERS = [MultiPartParser, JsonLinesParser, NdjsonParser]
JSONL_TYPES = (JsonLinesParser.media_type, NdjsonParser.media_type)

DRY_RUN = OpenApiParameter(
    "dry_run",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    description="Validate and return the report without storing anything (200 instead of 201).",
)
RAW_BODY_PARAMETERS = [
    OpenApiParameter(
        name, OpenApiTypes.STR, OpenApiParameter.QUERY, description=f"{description} Only with a raw JSON-lines body."
    )
    for name, description in (
        ("name", "The dataset's name."),
        ("kind", "labelled_texts or text_pairs."),
        ("description", "Optional description."),
        ("filename", "Optional original file name (default upload.jsonl)."),
    )
]
UPLOAD_REQUEST = {
    "multipart/form-data": DatasetUploadInput,
    "application/jsonl": {"type": "string", "format": "binary"},
    "application/x-ndjson": {"type": "string", "format": "binary"},
}
UPLOAD_RESPONSES = {
    201: DatasetVersionOutput,
    200: OpenApiResponse(DatasetDryRunOutput, description="`dry_run=true`: the file is valid; nothing was stored."),
    413: OpenApiResponse(
        ErrorResponse, description="The file is larger than DATASET_MAX_UPLOAD_BYTES (`request_too_large`)."
    ),
    422: OpenApiResponse(
        ErrorResponse,
        description="The file was refused (`dataset_invalid`): `details.errors` lists the first 50 problems "
        "with their row and reason, `details.report` the full report. Nothing was stored.",
        examples=[
            OpenApiExample(
                "Refused file",
                value={
                    "error": {
                        "code": "dataset_invalid",
                        "message": "The file was not stored: 1 problem must be fixed first.",
                        "details": {
                            "errors": [
                                {
                                    "row": 4,
                                    "column": None,
                                    "code": "wrong_field_count",
                                    "reason": "Row 4 has 3 fields; the header has 2.",
                                }
                            ],
                            "error_count": 1,
                            "report": {},
                        },
                    }
                },
            )
        ],
    ),
}


class DatasetUploadMixin:
    parser_classes = UPLOAD_PARSERS

    def _upload(self, request, *, dataset=None) -> Response:
        query = self.parse(DatasetUploadQuery, request.query_params)
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type in JSONL_TYPES:
            data = request.data
            fields = {
                "name": query.get("name", ""),
                "kind": query.get("kind", ""),
                "description": query["description"],
                "filename": query["filename"],
            }
        else:
            if dataset is None:
                parsed = self.parse(DatasetUploadInput, request.data)
                fields = {"name": parsed["name"], "kind": parsed["kind"], "description": parsed["description"]}
            else:
                parsed = self.parse(DatasetVersionUploadInput, request.data)
                fields = {"name": "", "kind": "", "description": ""}
            upload = parsed["file"]
            fields["filename"] = upload.name
            content_type = upload.content_type or ""
            data = upload.read()
        if dataset is None and not fields["name"]:
            raise ApiError(
                "Give the dataset a name.",
                code="validation_error",
                details={"fields": {"name": ["This field is required."]}},
            )
        if dataset is None and not fields["kind"]:
            raise ApiError(
                "Choose a kind.", code="validation_error", details={"fields": {"kind": ["This field is required."]}}
            )
        arguments = {
            "organization": self.organization,
            "actor": self.actor,
            "data": data,
            "dataset": dataset,
            "content_type": content_type,
            **fields,
        }
        if query["dry_run"]:
            checked = services.dataset_upload_check(**arguments)
            return Response(DatasetDryRunOutput({"dry_run": True, "valid": True, "report": checked.result.report}).data)
        version = services.dataset_upload(**arguments)
        return Response(DatasetVersionOutput(version).data, status=status.HTTP_201_CREATED)


class DatasetListApi(DatasetUploadMixin, TenantApi):
    """Datasets: named, versioned uploads of labelled texts or text pairs for training."""

    required_scopes = {"GET": "training", "POST": "training"}

    @extend_schema(responses=paginated(DatasetOutput), operation_id="datasets_list", summary="List datasets")
    def get(self, request):
        return self.paginate(selectors.dataset_list(organization=self.organization), DatasetOutput)

    @extend_schema(
        request=UPLOAD_REQUEST,
        parameters=[DRY_RUN, *RAW_BODY_PARAMETERS],
        responses=UPLOAD_RESPONSES,
        operation_id="datasets_create",
        summary="Upload a dataset (version 1)",
    )
    def post(self, request):
        return self._upload(request)


class DatasetDetailApi(TenantApi):
    required_scopes = {"GET": "training"}

    @extend_schema(responses=DatasetOutput, operation_id="datasets_retrieve", summary="Get a dataset")
    def get(self, request, dataset_id):
        return Response(
            DatasetOutput(selectors.dataset_get(organization=self.organization, dataset_id=dataset_id)).data
        )


class DatasetVersionListApi(DatasetUploadMixin, TenantApi):
    required_scopes = {"GET": "training", "POST": "training"}

    @extend_schema(
        responses=paginated(DatasetVersionSummaryOutput),
        operation_id="datasets_versions_list",
        summary="List a dataset's versions",
    )
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(organization=self.organization, dataset_id=dataset_id)
        versions = selectors.dataset_version_list(organization=self.organization, dataset_id=dataset.id)
        return self.paginate(versions, DatasetVersionSummaryOutput)

    @extend_schema(
        request=UPLOAD_REQUEST,
        parameters=[DRY_RUN, *RAW_BODY_PARAMETERS[3:]],
        responses=UPLOAD_RESPONSES,
        operation_id="datasets_versions_create",
        summary="Upload a new version of a dataset",
    )
    def post(self, request, dataset_id):
        dataset = selectors.dataset_get(organization=self.organization, dataset_id=dataset_id)
        return self._upload(request, dataset=dataset)


class DatasetVersionDetailApi(TenantApi):
    required_scopes = {"GET": "training"}

    @extend_schema(
        responses=DatasetVersionOutput,
        operation_id="datasets_versions_retrieve",
        summary="Get one version of a dataset, with its full report",
    )
    def get(self, request, dataset_id, version):
        dataset_version = selectors.dataset_version_get(
            organization=self.organization, dataset_id=dataset_id, version=int(version)
        )
        return Response(DatasetVersionOutput(dataset_version).data)
