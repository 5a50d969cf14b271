"""The Celery app of the cluster's workers (HARVEY_EXECUTOR=celery): dagster-celery's step task,
its broker and settings as the runs submit them (assets/cluster.py). A worker:

    celery -A harvey_pipelines.celery_worker worker -Q dagster -c 4 -n worker1@%h

with the code server's environment (HARVEY_*, DAGSTER_HOME of the PostgreSQL instance, the
organizations' credential variables): a step loads the job from this code, as the run does.
"""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from harvey_pipelines.assets.cluster import celery_executor

app = make_app(celery_executor().app_args())
execute_plan = create_task(app)
