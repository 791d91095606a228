from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.models import IdempotencyKey
from apps.core.tasks import idempotency_keys_purge
from apps.core.tenancy import cross_tenant, tenant_context

pytestmark = pytest.mark.django_db


def _key(organization, key, age_hours):
    with tenant_context(organization.id):
        record = IdempotencyKey.objects.create(
            organization=organization, key=key, request_fingerprint="f", method="POST", path="/api/v1/x"
        )
        IdempotencyKey.objects.filter(id=record.id).update(created_at=timezone.now() - timedelta(hours=age_hours))


def test_purge_deletes_expired_keys_of_every_organization_and_keeps_fresh_ones(org, other_org, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    _key(org, "old-a", 25)
    _key(other_org, "old-b", 48)
    _key(org, "fresh-a", 1)
    _key(other_org, "fresh-b", 23)

    deleted = idempotency_keys_purge()

    with cross_tenant(reason="test"):
        remaining = sorted(IdempotencyKey.all_orgs.values_list("key", flat=True))
    assert deleted == 2
    assert remaining == ["fresh-a", "fresh-b"]
