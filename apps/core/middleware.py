from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.core.errors import json_error

# Dataset and document-file uploads may be larger than other API bodies; a little room is
# left for the multipart envelope around a file of exactly the upload limit.
_UPLOAD_PREFIXES = ("/api/v1/datasets",)
_DOCUMENT_UPLOAD_PATH = re.compile(r"^/api/v1/monitors/[^/]+/documents/upload/?$")
_MULTIPART_ALLOWANCE_BYTES = 64 * 1024


def _body_limit(path: str) -> int:
    if path.startswith(_UPLOAD_PREFIXES):
        return settings.DATASET_MAX_UPLOAD_BYTES + _MULTIPART_ALLOWANCE_BYTES
    if _DOCUMENT_UPLOAD_PATH.match(path):
        return settings.SENTIMENT_MAX_UPLOAD_BYTES + _MULTIPART_ALLOWANCE_BYTES
    return settings.API_MAX_BODY_BYTES


class ApiRequestSizeLimitMiddleware:
    """Answer oversize API bodies with a JSON 413 before anything reads them.

    DRF reads the WSGI stream directly, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check,
    so the limit has to be enforced here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            limit = _body_limit(request.path)
            raw_length = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw_length)
            except ValueError:
                return json_error(400, "invalid_content_length", "The Content-Length header is not a number.")
            if length > limit:
                return json_error(
                    413,
                    "request_too_large",
                    f"The request body is {length} bytes; the limit is {limit} bytes.",
                    {"max_bytes": limit, "received_bytes": length},
                )
            if request.META.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" and not raw_length.strip("0"):
                return json_error(
                    411,
                    "length_required",
                    "Send a Content-Length header; chunked request bodies are not accepted.",
                )
        return self.get_response(request)
