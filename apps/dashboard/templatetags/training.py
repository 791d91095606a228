"""Filters for the training and model pages."""

from __future__ import annotations

from numbers import Number

from django import template

register = template.Library()

_JOB_TONES = {
    "validating": "info",
    "queued": "neutral",
    "running": "accent",
    "succeeded": "success",
    "failed": "danger",
    "cancelled": "warning",
}
_EVENT_TONES = {"info": "neutral", "warning": "warning", "error": "danger"}


@register.filter
def job_tone(status: str) -> str:
    return _JOB_TONES.get(status, "neutral")


@register.filter
def event_tone(level: str) -> str:
    return _EVENT_TONES.get(level, "neutral")


@register.filter
def percent(fraction: float | None) -> int:
    return round(max(0.0, min(1.0, float(fraction or 0))) * 100)


@register.filter
def duration(seconds: float | None) -> str:
    """ "45 s", "3 min 20 s", "1 h 5 min"."""
    total = round(float(seconds or 0))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def is_number(value: object) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


@register.filter
def get_item(mapping: dict, key: str):
    return (mapping or {}).get(key)


@register.filter
def metric(value: object) -> str:
    """Counts as counts, scores with four decimals."""
    if isinstance(value, bool) or not isinstance(value, Number):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) > 1:
        return f"{int(value):,}"
    return f"{value:.4f}"
