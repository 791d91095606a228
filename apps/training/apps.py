from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "apps.training"
    label = "training"

    def ready(self) -> None:
        from celery.signals import worker_ready, worker_shutdown

        worker_ready.connect(_on_worker_ready, weak=False, dispatch_uid="training.worker_ready")
        worker_shutdown.connect(_on_worker_shutdown, weak=False, dispatch_uid="training.worker_shutdown")


def _on_worker_ready(sender=None, **kwargs) -> None:
    from apps.training.workers import start_registration

    start_registration(sender)


def _on_worker_shutdown(sender=None, **kwargs) -> None:
    from apps.training.workers import worker_unregister

    hostname = getattr(sender, "hostname", None)
    if hostname:
        worker_unregister(hostname=hostname)
