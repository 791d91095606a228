"""Seed the embedded demo: a fictional bank with an owner, a teammate, an API key, two
datasets to train on, this month's usage, a sentiment monitor with three weeks of scored
documents and a spike alert, and a staff operator for the console. Safe to run again: it
reuses what exists and issues a fresh API key each time (keys are shown only once)."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.models import Membership, Organization, Role, User
from apps.api_keys.models import ApiKey
from apps.api_keys.services import api_key_create
from apps.billing.models import BillingAccount
from apps.billing.selectors import period_bounds
from apps.billing.services import overrides_set
from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.datasets import demo as demo_data
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_upload
from apps.metering.models import Meter
from apps.metering.services import usage_event_record
from apps.sentiment import demo as sentiment_demo
from apps.sentiment.alerts import spike_check
from apps.sentiment.models import Document, DocumentStatus, Monitor, SpikeAlert
from apps.sentiment.services import MAX_DOCUMENTS_PER_BATCH, documents_ingest, monitor_create, monitor_documents_score

DEMO_ORGANIZATION = "Northwind Savings Bank"
DEMO_OWNER = ("owner@northwind.example", "Morgan Reyes")
DEMO_TEAMMATE = ("analyst@northwind.example", "Priya Natarajan")
DEMO_OPERATOR = "operator@tessera.example"
# A demo on 127.0.0.1 only; production accounts never use fixed passwords.
DEMO_PASSWORD = "northwind-demo-2026"  # noqa: S105
# The monitor's three weeks of history (about 800 documents, all scored on the day of the
# seed) would take most of the Free plan's 1,000 `documents_processed` a month and leave
# the rest deferred. Rather than shrink the demo or fake the meter, the demo organization
# stays on Free with a staff override of this one allowance (audited, and shown in the
# console like any other override); the usage page then shows the documents really scored.
DEMO_DOCUMENTS_ALLOWANCE = 5000


class Command(BaseCommand):
    help = "Create (or reuse) the demo organization and print a login and a fresh API key."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            owner = self._user(*DEMO_OWNER)
            teammate = self._user(*DEMO_TEAMMATE)
            operator = User.objects.filter(email=DEMO_OPERATOR).first() or User.objects.create_superuser(
                DEMO_OPERATOR, DEMO_PASSWORD, full_name="Tessera Operator"
            )
            organization = Organization.objects.filter(name=DEMO_ORGANIZATION).first()
            if organization is None:
                organization = accounts.organization_create(name=DEMO_ORGANIZATION, owner=owner)
            with tenant_context(organization.id):
                Membership.objects.get_or_create(
                    organization=organization, user=teammate, defaults={"role": Role.MEMBER}
                )
                count = ApiKey.objects.for_org(organization).count()
                _, secret = api_key_create(
                    organization=organization,
                    actor=Actor(via="system", role=Role.OWNER, user=owner),
                    name=f"Demo key {count + 1}",
                    scopes=["admin"],
                )
                self._datasets(organization, owner)
                self._usage(organization)
                self._documents_allowance(organization)
        # Outside the transaction above: scoring commits chunk by chunk, like the worker does.
        monitor_line = self._sentiment(organization, owner)
        self.stdout.write(
            self.style.SUCCESS("\nTessera demo is seeded.\n")
            + f"  Dashboard login : {owner.email} / {DEMO_PASSWORD}\n"
            + f"  Console login   : {operator.email} / {DEMO_PASSWORD}  (http://127.0.0.1:8000/console/)\n"
            + f"  API key (admin) : {secret}\n"
            + f"  Sentiment       : {monitor_line}\n"
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
        """This month's API predictions so far, so the usage page has charts, a projection and an alert.

        A weekday/weekend rhythm with slow growth; the same keys each run, so it counts once.
        `documents_processed` is not invented here: the sentiment monitor below records the
        documents it really scores.
        """
        start, _ = period_bounds()
        today = timezone.now()
        day = start
        while day.date() <= today.date():
            number = (day - start).days
            weekend = day.weekday() >= 5
            predictions = (12 if weekend else 26) + number // 2
            usage_event_record(
                organization=organization,
                meter=Meter.API_PREDICTIONS,
                quantity=predictions,
                idempotency_key=f"demo:{Meter.API_PREDICTIONS}:{day:%Y-%m-%d}",
                occurred_at=min(day.replace(hour=12), today),
            )
            day += timedelta(days=1)

    def _documents_allowance(self, organization: Organization) -> None:
        """Raise the demo's `documents_processed` allowance (DEMO_DOCUMENTS_ALLOWANCE explains why).

        Merged into any overrides staff set in the console, and set only when lower, so a
        re-run writes no new audit entry.
        """
        account = BillingAccount.objects.for_org(organization).first()
        overrides = dict(account.overrides or {}) if account is not None else {}
        included = dict(overrides.get("included") or {})
        if float(included.get(Meter.DOCUMENTS_PROCESSED, 0)) >= DEMO_DOCUMENTS_ALLOWANCE:
            return
        included[Meter.DOCUMENTS_PROCESSED] = str(DEMO_DOCUMENTS_ALLOWANCE)
        overrides_set(organization=organization, overrides={**overrides, "included": included}, actor=Actor.system())

    def _sentiment(self, organization: Organization, owner: User) -> str:
        """The demo monitor with three weeks of documents, scored here (the encoder loads once
        and the starter model trains once per machine), then checked for spikes."""
        started = time.monotonic()
        actor = Actor(via="system", role=Role.OWNER, user=owner)
        spec = sentiment_demo.DEMO_MONITOR
        with tenant_context(organization.id):
            monitor = Monitor.objects.for_org(organization).filter(name=spec["name"]).first()
            if monitor is None:
                monitor = monitor_create(
                    organization=organization,
                    actor=actor,
                    name=spec["name"],
                    description=spec["description"],
                    topics=spec["topics"],
                )
        rows = sentiment_demo.demo_documents(timezone.now())
        created = 0
        for offset in range(0, len(rows), MAX_DOCUMENTS_PER_BATCH):
            with tenant_context(organization.id):
                result = documents_ingest(
                    organization=organization,
                    monitor=monitor,
                    actor=actor,
                    rows=rows[offset : offset + MAX_DOCUMENTS_PER_BATCH],
                )
            created += result.created
            if result.rejected:
                self.stderr.write(f"Demo documents rejected: {result.errors[:3]}")
        # Ingest queued the scoring for the worker; score here instead so the monitor is
        # ready when the server starts (the queued task then finds nothing left to do).
        scored = monitor_documents_score(
            organization_id=organization.id,
            monitor_id=monitor.id,
            statuses=(DocumentStatus.PENDING, DocumentStatus.DEFERRED),
        )
        spike_check(monitor=monitor)
        with tenant_context(organization.id):
            documents = Document.objects.for_org(organization).filter(monitor=monitor)
            total = documents.filter(status=DocumentStatus.SCORED).count()
            alerts = SpikeAlert.objects.for_org(organization).filter(monitor=monitor).count()
        return (
            f"monitor “{monitor.name}”: {total} documents scored ({created} new, {scored['scored']} scored now, "
            f"{scored['deferred']} deferred), {alerts} spike alert(s); seeded in {time.monotonic() - started:.0f} s"
        )

    def _user(self, email: str, full_name: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, DEMO_PASSWORD, full_name=full_name)
        return user
