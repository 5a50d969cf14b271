"""Keeps the organizations partitions in step with the registry file."""


from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION, organizations_partitions
from harvey_pipelines.assets.resources import OrganizationsResource


@sensor(
    name="organizations_registry",
    description="Adds a partition for every organization in the registry file. Partitions of "
    "disabled or removed organizations stay, with their history. On by default: without it a "
    "new organization has no partition to sync.",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
)
def organizations_registry_sensor(context: SensorEvaluationContext, organizations: OrganizationsResource):
    known = set(context.instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION))
    new = sorted(o.id for o in organizations.registry().load() if o.id not in known)
    if not new:
        return SkipReason("every registered organization has a partition")
    return SensorResult(dynamic_partitions_requests=[organizations_partitions.build_add_request(new)])
