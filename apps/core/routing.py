"""Route helpers shared by every app's `api/urls.py` (collected in apps/config/api_urls.py)."""

from __future__ import annotations

from django.urls import re_path

UUID = r"(?P<{}>[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})"


def uuid(name: str) -> str:
    """The regex group for a UUID path parameter called `name`."""
    return UUID.format(name)


def route(pattern: str, view, name: str):
    # The canonical route has no trailing slash; the slash variant is accepted too and
    # left out of the OpenAPI schema (apps.core.schema.drop_trailing_slash_duplicates).
    return re_path(rf"^{pattern}$", view.as_view(), name=name)


def slash_variant(pattern: str, view, name: str):
    return re_path(rf"^{pattern}/$", view.as_view(), name=f"{name}-slash")
