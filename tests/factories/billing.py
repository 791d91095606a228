"""Billing helpers for tests: put an organization on a plan or give it overrides, as staff would."""

from __future__ import annotations

from typing import Any

from apps.billing.models import Plan
from apps.billing.selectors import free_plan
from apps.billing.services import overrides_set, plan_assign
from apps.core.actors import Actor
from apps.core.tenancy import tenant_context


def set_overrides(organization: Any, **overrides: Any) -> None:
    with tenant_context(organization.id):
        overrides_set(organization=organization, overrides=overrides, actor=Actor.system())


def put_on_plan(organization: Any, code: str) -> Plan:
    free_plan()  # seeds the default plans if a flush removed them
    plan = Plan.objects.get(code=code)
    with tenant_context(organization.id):
        plan_assign(organization=organization, plan=plan, actor=Actor.system())
    return plan
