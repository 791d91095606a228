"""The tenancy rules every tenant model, task and context must keep (STYLE.md section 5)."""

import pytest
from django.db import connection

from apps.accounts.models import Membership
from apps.core import tenancy
from apps.core.queues import Queue
from apps.core.rls import tenant_models
from apps.core.taskbase import tenant_task
from apps.core.tenancy import TenantContextError, cross_tenant, current_organization_id, tenant_context

pytestmark = pytest.mark.django_db


def _db_organization():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.organization_id', true)")
        return cursor.fetchone()[0] or ""


@pytest.mark.parametrize("model", tenant_models(), ids=lambda m: m._meta.label)
def test_every_tenant_model_has_a_required_indexed_organization(model):
    field = model._meta.get_field("organization")

    assert field.null is False
    assert field.db_index is True


@pytest.mark.parametrize("model", tenant_models(), ids=lambda m: m._meta.label)
def test_composite_indexes_and_constraints_start_with_organization(model):
    composite = [index.fields for index in model._meta.indexes] + [
        constraint.fields or [expression.name for expression in constraint.expressions[:1]]
        for constraint in model._meta.constraints
        if hasattr(constraint, "fields")
    ]

    assert composite, f"{model._meta.label} declares no composite index"
    assert all(fields[0] == "organization" for fields in composite), composite


def test_nested_contexts_restore_the_outer_organization(org, other_org):
    with tenant_context(org.id):
        with tenant_context(other_org.id):
            inner = (_db_organization(), current_organization_id())
        outer = (_db_organization(), current_organization_id())

    assert inner == (str(other_org.id), other_org.id)
    assert outer == (str(org.id), org.id)
    assert (_db_organization(), current_organization_id()) == ("", None)


def test_an_exception_inside_a_context_leaves_no_context_behind(org):
    with pytest.raises(ValueError, match="boom"), tenant_context(org.id):
        raise ValueError("boom")

    assert (_db_organization(), current_organization_id()) == ("", None)


@pytest.mark.django_db(transaction=True)
def test_activating_outside_a_transaction_is_refused(org):
    # In autocommit a transaction-local setting would last one statement and scope nothing.
    assert not connection.in_atomic_block

    with pytest.raises(TenantContextError, match="inside a transaction"):
        tenancy.activate_organization(org.id)


def test_cross_tenant_switches_role_and_back():
    def current_user():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            return cursor.fetchone()[0]

    with cross_tenant(reason="test"):
        with cross_tenant(reason="nested"):
            nested = current_user()
        inside = current_user()
    after = current_user()

    assert (nested, inside, after) == ("tessera_cross_tenant", "tessera_cross_tenant", "tessera_app")


@tenant_task(queue=Queue.DEFAULT)
def _probe_task(organization_id: int) -> tuple[int | None, int]:
    return current_organization_id(), Membership.objects.count()


def test_tenant_tasks_enter_their_organization_before_any_query(org, other_org, owner, other_owner):
    seen_organization, visible_memberships = _probe_task(org.id)

    assert seen_organization == org.id
    assert visible_memberships == 1  # only org's owner: RLS scoped the unscoped count
    assert _probe_task.queue == "default"
    assert (_probe_task.time_limit, _probe_task.soft_time_limit) == (300, 240)


def test_tenant_tasks_refuse_a_missing_organization_id():
    with pytest.raises(TypeError, match="takes the organization id first"):
        _probe_task("not-an-id")
