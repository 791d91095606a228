from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination as DrfCursorPagination

from apps.core.errors import ApiError


class CursorPagination(DrfCursorPagination):
    """Stable pages under concurrent inserts: newest first, ties broken by id."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def decode_cursor(self, request):
        # DRF answers a mangled cursor with 404, which reads like a missing resource.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ApiError(
                "The cursor is not valid. Use the `next` or `previous` URL of a page as given.",
                code="invalid_cursor",
            ) from None
