import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.core.api import TenantApi
from apps.core.schema import paginated
from apps.datasets.selectors import dataset_version_get
from apps.training import selectors, services
from apps.training.api.serializers import (
    ActivePredictInput,
    ModelRollbackInput,
    ModelVersionListFilter,
    ModelVersionOutput,
    ModelVersionPromoteInput,
    PredictInput,
    PredictOutput,
    TrainingJobCreateInput,
    TrainingJobEventFilter,
    TrainingJobEventOutput,
    TrainingJobListFilter,
    TrainingJobOutput,
)
from apps.training.serving import model_version_predict

SCOPE = {"GET": "training", "POST": "training"}


class TrainingJobListApi(TenantApi):
    required_scopes = SCOPE

    @extend_schema(
        parameters=[TrainingJobListFilter],
        responses=paginated(TrainingJobOutput),
        operation_id="training_jobs_list",
        summary="List training jobs, newest first",
    )
    def get(self, request):
        filters = self.parse(TrainingJobListFilter, request.query_params)
        return self.paginate(selectors.training_job_list(organization=self.organization, **filters), TrainingJobOutput)

    @extend_schema(
        request=TrainingJobCreateInput,
        responses={201: TrainingJobOutput},
        operation_id="training_jobs_create",
        summary="Start a fine-tuning job (validating → queued → running → succeeded | failed | cancelled)",
    )
    def post(self, request):
        data = self.parse(TrainingJobCreateInput, request.data)
        dataset_version = dataset_version_get(
            organization=self.organization, dataset_id=data["dataset"], version=data.get("dataset_version")
        )
        validation = None
        if data.get("validation_dataset"):
            validation = dataset_version_get(
                organization=self.organization,
                dataset_id=data["validation_dataset"],
                version=data.get("validation_dataset_version"),
            )
        job = services.training_job_create(
            organization=self.organization,
            actor=self.actor,
            task=data["task"],
            dataset_version=dataset_version,
            validation_dataset_version=validation,
            model_name=data.get("model_name"),
            base_model=data.get("base_model"),
            strategy=data["strategy"],
            hyperparameters=data.get("hyperparameters"),
        )
        return Response(TrainingJobOutput(job).data, status=status.HTTP_201_CREATED)


class TrainingJobDetailApi(TenantApi):
    required_scopes = SCOPE

    @extend_schema(responses=TrainingJobOutput, operation_id="training_jobs_retrieve", summary="Get a training job")
    def get(self, request, job_id):
        return Response(
            TrainingJobOutput(selectors.training_job_get(organization=self.organization, job_id=job_id)).data
        )


class TrainingJobEventListApi(TenantApi):
    required_scopes = SCOPE

    @extend_schema(
        parameters=[TrainingJobEventFilter],
        responses=paginated(TrainingJobEventOutput),
        operation_id="training_jobs_events_list",
        summary="A training job's event feed, oldest first",
    )
    def get(self, request, job_id):
        filters = self.parse(TrainingJobEventFilter, request.query_params)
        job = selectors.training_job_get(organization=self.organization, job_id=job_id)
        events = selectors.training_job_event_list(organization=self.organization, job=job, **filters)
        return self.paginate(events, TrainingJobEventOutput)


class TrainingJobCancelApi(TenantApi):
    required_scopes = SCOPE

    @extend_schema(
        request=None,
        responses=TrainingJobOutput,
        operation_id="training_jobs_cancel",
        summary="Cancel a job (a running job stops within seconds)",
    )
    def post(self, request, job_id):
        job = selectors.training_job_get(organization=self.organization, job_id=job_id)
        job = services.training_job_cancel(organization=self.organization, job=job, actor=self.actor)
        return Response(TrainingJobOutput(job).data)


class ModelVersionListApi(TenantApi):
    required_scopes = SCOPE

    @extend_schema(
        parameters=[ModelVersionListFilter],
        responses=paginated(ModelVersionOutput),
        operation_id="models_list",
        summary="List model versions",
    )
    def get(self, request):
        filters = self.parse(ModelVersionListFilter, request.query_params)
        return self.paginate(
            selectors.model_version_list(organization=self.organization, **filters), ModelVersionOutput
        )


class ModelVersionDetailApi(TenantApi):
    required_scopes = SCOPE

    @extend_schema(responses=ModelVersionOutput, operation_id="models_retrieve", summary="Get a model version")
    def get(self, request, version_id):
        version = selectors.model_version_get(organization=self.organization, version_id=version_id)
        return Response(ModelVersionOutput(version).data)


class ModelVersionPromoteApi(TenantApi):
    required_scopes = SCOPE

    @extend_schema(
        request=ModelVersionPromoteInput,
        responses=ModelVersionOutput,
        operation_id="models_promote",
        summary="Make this version the active one of its model (audited)",
    )
    def post(self, request, version_id):
        data = self.parse(ModelVersionPromoteInput, request.data)
        version = selectors.model_version_get(organization=self.organization, version_id=version_id)
        version = services.model_version_promote(
            organization=self.organization, version=version, actor=self.actor, reason=data.get("reason", "")
        )
        return Response(ModelVersionOutput(version).data)


class ModelRollbackApi(TenantApi):
    required_scopes = SCOPE

    @extend_schema(
        request=ModelRollbackInput,
        responses=ModelVersionOutput,
        operation_id="models_rollback",
        summary="Re-activate the version that was active before the current one (audited)",
    )
    def post(self, request):
        data = self.parse(ModelRollbackInput, request.data)
        version = services.model_version_rollback(organization=self.organization, name=data["name"], actor=self.actor)
        return Response(ModelVersionOutput(version).data)


def _request_id(request) -> str:
    # An Idempotency-Key replay is answered before the view runs, so every execution that
    # reaches here is billable: a fresh id each time (reusing the client's key would make a
    # request repeated after the 24-hour replay window free).
    return str(uuid.uuid4())


def _predict(view: TenantApi, version, texts: list[str]) -> Response:
    predictions = model_version_predict(version=version, texts=texts, request_id=_request_id(view.request))
    return Response({"model_version": ModelVersionOutput(version).data, "predictions": predictions})


class ModelVersionPredictApi(TenantApi):
    required_scopes = SCOPE

    @extend_schema(
        request=PredictInput,
        responses=PredictOutput,
        operation_id="models_predict",
        summary="Classify texts with this model version",
    )
    def post(self, request, version_id):
        data = self.parse(PredictInput, request.data)
        return _predict(
            self, selectors.model_version_get(organization=self.organization, version_id=version_id), data["texts"]
        )


class ActiveModelPredictApi(TenantApi):
    required_scopes = SCOPE

    @extend_schema(
        request=ActivePredictInput,
        responses=PredictOutput,
        operation_id="predict",
        summary="Classify texts with the active version of a model",
    )
    def post(self, request):
        data = self.parse(ActivePredictInput, request.data)
        return _predict(
            self, selectors.model_version_active(organization=self.organization, name=data["model"]), data["texts"]
        )
