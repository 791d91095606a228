"""Seed the embedded demo: a fictional bank with an owner, a teammate, an API key, two
datasets to train on, this month's usage, and a staff operator for the console. Safe to
run again: it reuses what exists and issues a fresh API key each time (keys are shown only
once)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.models import Membership, Organization, Role, User
from apps.api_keys.models import ApiKey
from apps.api_keys.services import api_key_create
from apps.billing.selectors import period_bounds
from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.datasets import demo as demo_data
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_upload
from apps.metering.models import Meter
from apps.metering.services import usage_event_record

DEMO_ORGANIZATION = "Northwind Savings Bank"
DEMO_OWNER = ("owner@northwind.example", "Morgan Reyes")
DEMO_TEAMMATE = ("analyst@northwind.example", "Priya Natarajan")
DEMO_OPERATOR = "operator@tessera.example"
# A demo on 127.0.0.1 only; production accounts never use fixed passwords.
DEMO_PASSWORD = "northwind-demo-2026"  # noqa: S105


class Command(BaseCommand):
    help = "Create (or reuse) the demo organization and print a login and a fresh API key."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        owner = self._user(*DEMO_OWNER)
        teammate = self._user(*DEMO_TEAMMATE)
        operator = User.objects.filter(email=DEMO_OPERATOR).first() or User.objects.create_superuser(
            DEMO_OPERATOR, DEMO_PASSWORD, full_name="Tessera Operator"
        )
        organization = Organization.objects.filter(name=DEMO_ORGANIZATION).first()
        if organization is None:
            organization = accounts.organization_create(name=DEMO_ORGANIZATION, owner=owner)
        with tenant_context(organization.id):
            Membership.objects.get_or_create(organization=organization, user=teammate, defaults={"role": Role.MEMBER})
            count = ApiKey.objects.for_org(organization).count()
            _, secret = api_key_create(
                organization=organization,
                actor=Actor(via="system", role=Role.OWNER, user=owner),
                name=f"Demo key {count + 1}",
                scopes=["admin"],
            )
            self._datasets(organization, owner)
            self._usage(organization)
        self.stdout.write(
            self.style.SUCCESS("\nTessera demo is seeded.\n")
            + f"  Dashboard login : {owner.email} / {DEMO_PASSWORD}\n"
            + f"  Console login   : {operator.email} / {DEMO_PASSWORD}  (http://127.0.0.1:8000/console/)\n"
            + f"  API key (admin) : {secret}\n"
            + "  Try it          : curl -H 'Authorization: Bearer "
            + secret
            + "' http://127.0.0.1:8000/api/v1/organization\n"
        )

    def _datasets(self, organization: Organization, owner: User) -> None:
        """Two demo datasets, so a job can be started from the dashboard at once."""
        actor = Actor(via="system", role=Role.OWNER, user=owner)
        for name, kind, filename, data in (
            ("Support intents", "labelled_texts", "support-intents.csv", demo_data.support_intents_csv()),
            ("FAQ pairs", "text_pairs", "faq-pairs.jsonl", demo_data.faq_pairs_jsonl()),
        ):
            if not Dataset.objects.for_org(organization).filter(name=name).exists():
                dataset_upload(
                    organization=organization, actor=actor, name=name, kind=kind, filename=filename, data=data
                )

    def _usage(self, organization: Organization) -> None:
        """This month's usage so far, so the usage page has charts, a projection and an alert.

        A weekday/weekend rhythm with slow growth; the same keys each run, so it counts once.
        """
        start, _ = period_bounds()
        today = timezone.now()
        day = start
        while day.date() <= today.date():
            number = (day - start).days
            weekend = day.weekday() >= 5
            predictions = (12 if weekend else 26) + number // 2
            documents = (6 if weekend else 18) + number // 2
            moment = min(day.replace(hour=12), today)
            for meter, quantity in ((Meter.API_PREDICTIONS, predictions), (Meter.DOCUMENTS_PROCESSED, documents)):
                usage_event_record(
                    organization=organization,
                    meter=meter,
                    quantity=quantity,
                    idempotency_key=f"demo:{meter}:{day:%Y-%m-%d}",
                    occurred_at=moment,
                )
            day += timedelta(days=1)

    def _user(self, email: str, full_name: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, DEMO_PASSWORD, full_name=full_name)
        return user
