"""/api/v1 routes of this app, as (pattern, view, name); see apps/config/api_urls.py."""

from apps.core.routing import uuid
from apps.training.api import views

ROUTES: list = [
    ("training-jobs", views.TrainingJobListApi, "training-job-list"),
    (f"training-jobs/{uuid('job_id')}", views.TrainingJobDetailApi, "training-job-detail"),
    (f"training-jobs/{uuid('job_id')}/events", views.TrainingJobEventListApi, "training-job-events"),
    (f"training-jobs/{uuid('job_id')}/cancel", views.TrainingJobCancelApi, "training-job-cancel"),
    ("models", views.ModelVersionListApi, "model-list"),
    ("models/rollback", views.ModelRollbackApi, "model-rollback"),
    (f"models/{uuid('version_id')}", views.ModelVersionDetailApi, "model-detail"),
    (f"models/{uuid('version_id')}/promote", views.ModelVersionPromoteApi, "model-promote"),
    (f"models/{uuid('version_id')}/predict", views.ModelVersionPredictApi, "model-predict"),
    ("predict", views.ActiveModelPredictApi, "predict"),
]
