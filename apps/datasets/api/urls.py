"""/api/v1 routes of this app, as (pattern, view, name); see apps/config/api_urls.py."""

from apps.core.routing import uuid
from apps.datasets.api import views

VERSION = r"(?P<version>[0-9]{1,9})"

ROUTES: list = [
    ("datasets", views.DatasetListApi, "dataset-list"),
    (f"datasets/{uuid('dataset_id')}", views.DatasetDetailApi, "dataset-detail"),
    (f"datasets/{uuid('dataset_id')}/versions", views.DatasetVersionListApi, "dataset-version-list"),
    (f"datasets/{uuid('dataset_id')}/versions/{VERSION}", views.DatasetVersionDetailApi, "dataset-version-detail"),
]
