"""Execution on a cluster of Celery workers (HARVEY_EXECUTOR=celery): dagster-celery's executor,
refused where a cluster cannot work, and the Celery settings the run and the workers share.

A step runs in whichever worker takes it from the broker, on any host: every worker must reach
the PostgreSQL warehouse (the no-overlap lock is its advisory lock), the instance's PostgreSQL
storage (a step's events) and the rate-limit store, and load the same code with the same
environment (harvey_pipelines.celery_worker).
"""

from dagster import Failure, InputContext, IOManager, OutputContext, executor, io_manager
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements
from sqlalchemy.engine import make_url

from harvey_pipelines import settings

# Applied by the run (submitting) and by the workers (taking): a step's message is acknowledged
# when the step has ended, so a worker killed mid-step hands it back to the broker and another
# worker runs it again (the sync then finds the killed one's run and marks it interrupted).
CELERY_CONFIG = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,  # a worker holds no steps it has not started
    "broker_connection_retry_on_startup": True,
}
QUEUE = "dagster"


def refuse_without_postgres() -> None:
    """A cluster needs a warehouse every host can write at once: DuckDB is one file, one writer."""
    if make_url(settings.warehouse_url()).get_backend_name() != "postgresql":
        raise ValueError(
            "HARVEY_EXECUTOR=celery needs the PostgreSQL warehouse (HARVEY_WAREHOUSE_URL=postgresql://...): "
            "DuckDB is one file with one writer, which workers on other hosts cannot share")


def celery_executor():
    """dagster-celery's executor as the run and the workers both build it (same broker, same
    Celery settings). Retries: a failed sync is retried by the sync_retries sensor, not by
    Dagster's step retries."""
    from dagster_celery.executor import CeleryExecutor

    broker, backend = settings.celery_urls()
    return CeleryExecutor.for_cli(broker=broker, backend=backend, config_source=CELERY_CONFIG)


@executor(name="celery", config_schema={}, requirements=multiple_process_executor_requirements())
def harvey_celery_executor(init_context):
    """dagster-celery's executor, its broker and Celery settings from HARVEY_CELERY_* (not run
    config: a broker URL may carry a password). Refuses a DuckDB warehouse and an instance
    whose storage is not PostgreSQL (workers on other hosts write a step's events there)."""
    refuse_without_postgres()
    storage = type(init_context.instance.run_storage).__name__
    if "Postgres" not in storage:
        raise Failure(f"HARVEY_EXECUTOR=celery needs PostgreSQL instance storage (dagster.yaml's storage: postgres); "
                      f"this instance has {storage}")
    return celery_executor()


def mapping_key(org_id: str) -> str:
    """An organization id (a slug: a-z, 0-9, single - or _) as a step's mapping key (letters,
    digits, _): a slug never holds "__", so "-" as "__" reads back unambiguously."""
    return org_id.replace("-", "__")


def organization_of(key: str) -> str:
    return key.replace("__", "-")


class OrganizationKeyIOManager(IOManager):
    """The batch's fan-out passes each step its organization id, which is the step's mapping key
    already: nothing is stored, so workers on other hosts need no shared file system."""

    def handle_output(self, context: OutputContext, obj: str) -> None:
        if context.mapping_key is None or organization_of(context.mapping_key) != obj:
            raise ValueError(f"organization {obj!r} must be its output's mapping key ({context.mapping_key!r})")

    def load_input(self, context: InputContext) -> str:
        key = context.upstream_output.mapping_key if context.upstream_output else None
        if key is None:
            raise ValueError("an organization step takes its organization from the fan-out's mapping key")
        return organization_of(key)


@io_manager(description="Organization ids of the batch's fan-out, read back from the steps' mapping keys.")
def organization_key_io_manager(_) -> OrganizationKeyIOManager:
    return OrganizationKeyIOManager()
