"""The Celery app of the cluster's workers (HARVEY_EXECUTOR=celery): dagster-celery's step task,
its broker and settings as the runs submit them (assets/cluster.py). A worker:

    celery -A harvey_pipelines.celery_worker worker -Q dagster -c 4 -n worker1@%h

with the code server's environment (HARVEY_*, DAGSTER_HOME of the PostgreSQL instance, the
organizations' credential variables): a step loads the job from this code, as the run does.

The step task is dagster-celery's (same name, arguments and result, so the runs' executor is
unchanged) with a step's fixed cost cut where it was paid again for every step (BENCHMARKS.md,
issue 15): the code location is imported when the worker starts, not by its first step; the
Dagster instance (its PostgreSQL storages) is built once per worker process, not per step; and a
step's stdout/stderr are not captured into compute-log files, which cost four processes per step
(two `tail -F` and two Python watchers), redirected the process's file descriptors (so steps
could not share a process) and landed on the worker host's disk, where the webserver on another
host never reads them: a worker's output is in its own log. Events, the worker's name in the
run's log, and acknowledging a step when it ends (a killed worker's step goes to another) stay.
"""

import threading

from dagster import DagsterInstance
from dagster import _check as check
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.events import EngineEventData
from dagster._core.execution.api import create_execution_plan, execute_plan_iterator
from dagster._core.instance.ref import InstanceRef
from dagster._grpc.types import ExecuteStepArgs
from dagster._serdes import ConfigurableClassData, serialize_value, unpack_value
from dagster_celery.config import TASK_EXECUTE_PLAN_NAME
from dagster_celery.core_execution_loop import DELEGATE_MARKER
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app

from harvey_pipelines.assets.cluster import celery_executor

# the code location, loaded once by the worker (a prefork pool's processes inherit it)
import harvey_pipelines.definitions  # noqa: E402,F401,I001  isort: skip

app = make_app(celery_executor().app_args())

NO_COMPUTE_LOGS = ConfigurableClassData(
    "dagster._core.storage.noop_compute_log_manager", "NoOpComputeLogManager", "{}")
_instances: dict[str, DagsterInstance] = {}
_instances_lock = threading.Lock()


def worker_instance(ref: InstanceRef) -> DagsterInstance:
    """The run's instance as this process uses it for every step: built once (its storages open
    a connection per statement, so a shared instance holds none), compute logs off."""
    ref = ref._replace(compute_logs_data=NO_COMPUTE_LOGS)
    key = serialize_value(ref)
    with _instances_lock:
        if key not in _instances:
            _instances[key] = DagsterInstance.from_ref(ref)
        return _instances[key]


@app.task(bind=True, name=TASK_EXECUTE_PLAN_NAME)
def execute_plan(self, execute_step_args_packed, executable_dict):
    """One step of a run, as dagster-celery's task runs it: the step's events are written to the
    instance here and returned to the run, which goes on from them."""
    args = unpack_value(check.dict_param(execute_step_args_packed, "execute_step_args_packed"),
                        as_type=ExecuteStepArgs)
    instance = worker_instance(check.not_none(args.instance_ref))
    recon_job = ReconstructableJob.from_dict(check.dict_param(executable_dict, "executable_dict"))
    run = instance.get_run_by_id(args.run_id)
    check.invariant(run, f"Could not load run {args.run_id}")
    run = check.not_none(run)
    step_keys = ", ".join(args.step_keys_to_execute or [])
    plan = create_execution_plan(recon_job, run.run_config, step_keys_to_execute=args.step_keys_to_execute,
                                 known_state=args.known_state)
    handle = check.not_none(plan.step_handle_for_single_step_plans())
    events = [instance.report_engine_event(
        f"Executing steps {step_keys} in celery worker", run,
        EngineEventData({"step_keys": step_keys, "Celery worker": self.request.hostname}, marker_end=DELEGATE_MARKER),
        CeleryExecutor, step_key=handle.to_key())]
    events.extend(execute_plan_iterator(execution_plan=plan, job=recon_job, dagster_run=run, instance=instance,
                                        retry_mode=args.retry_mode, run_config=run.run_config))
    return [serialize_value(event) for event in events]
