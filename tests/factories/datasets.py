"""Datasets made by the real upload service, as a member would make them."""

from apps.accounts.models import Role
from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.datasets.services import dataset_upload

LABELLED_CSV = (
    "text,label\n"
    + "".join(f"I want my money back {n},refund\n" for n in range(8))
    + "".join(f"Where is parcel {n}?,shipping\n" for n in range(8))
).encode()

PAIRS_JSONL = b"".join(
    f'{{"query": "how do I reset my password {n}", "positive": "Open settings and choose reset {n}."}}\n'.encode()
    for n in range(5)
)


def labelled_csv(rows: list[tuple[str, str]], header: str = "text,label") -> bytes:
    return (header + "\n" + "".join(f"{text},{label}\n" for text, label in rows)).encode()


def make_dataset_version(
    organization,
    *,
    name="Support intents",
    kind="labelled_texts",
    filename="intents.csv",
    data=LABELLED_CSV,
    dataset=None,
    user=None,
):
    with tenant_context(organization.id):
        return dataset_upload(
            organization=organization,
            actor=Actor(via="system", role=Role.MEMBER, user=user),
            name=name,
            kind=kind,
            filename=filename,
            data=data,
            dataset=dataset,
        )
