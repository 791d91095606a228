"""Small helpers shared by the dashboard views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

T = TypeVar("T")


def get_or_404(selector: Callable[..., T], **kwargs: Any) -> T:
    """Call a `<entity>_get` selector; a missing row (or another tenant's) becomes a 404."""
    try:
        return selector(**kwargs)
    except (ObjectDoesNotExist, ValidationError) as exc:
        raise Http404("Not found.") from exc


def safe_next_url(request: HttpRequest, fallback: str) -> str:
    """The `next` parameter when it points at this site, else `fallback`."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback
