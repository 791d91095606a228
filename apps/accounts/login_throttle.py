"""Brute-force protection for password logins (dashboard and console).

Failed attempts are counted in the cache (Redis in production) per email address and per
client IP over a sliding-ish fixed window; past the limit every attempt is refused,
even with the right password, until the window ends. Counting uses atomic increments.
"""

from __future__ import annotations

import hashlib
import math
import time

from django import forms
from django.conf import settings
from django.core.cache import cache

from apps.core.actors import client_ip


def _keys(email: str, ip_address: str | None) -> list[tuple[str, int]]:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    bucket = int(time.time() // window)
    email_hash = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    keys = [(f"login-failures:email:{email_hash}:{bucket}", settings.LOGIN_FAILURES_PER_EMAIL)]
    if ip_address:
        keys.append((f"login-failures:ip:{ip_address}:{bucket}", settings.LOGIN_FAILURES_PER_IP))
    return keys


def _seconds_left() -> int:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    return math.ceil(window - time.time() % window)


def login_is_locked(email: str, ip_address: str | None) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _keys(email, ip_address))


def login_failure_record(email: str, ip_address: str | None) -> None:
    for key, _ in _keys(email, ip_address):
        cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS + 5)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS + 5)


class LoginThrottleMixin:
    """Mix into an AuthenticationForm: refuse locked logins, count failures."""

    error_messages_locked = "Too many failed attempts. Try again in {minutes} minutes, or reset your password."

    def clean(self):
        email = self.cleaned_data.get("username") or ""
        ip_address = client_ip(self.request) if self.request is not None else None
        if email and login_is_locked(email, ip_address):
            minutes = max(1, math.ceil(_seconds_left() / 60))
            raise forms.ValidationError(self.error_messages_locked.format(minutes=minutes), code="locked")
        try:
            return super().clean()
        except forms.ValidationError as error:
            if email and error.code == "invalid_login":
                login_failure_record(email, ip_address)
            raise
