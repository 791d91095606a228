import pytest

from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.datasets.services import dataset_upload
from tests.apps.training.data import labelled_csv


@pytest.fixture
def make_dataset():
    def make(organization, *, name="bank-intents", kind="labelled_texts", data=None, filename="intents.csv"):
        with tenant_context(organization.id):
            return dataset_upload(
                organization=organization,
                actor=Actor.system(),
                name=name,
                kind=kind,
                filename=filename,
                data=data if data is not None else labelled_csv(),
            )

    return make
