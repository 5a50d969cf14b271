"""Organizations as partitions: one dynamic partition of every entity asset per registry entry."""

from dagster import DagsterInstance, DynamicPartitionsDefinition

from harvey_pipelines.organizations import OrganizationRegistry

ORGANIZATIONS_PARTITION = "organizations"
organizations_partitions = DynamicPartitionsDefinition(name=ORGANIZATIONS_PARTITION)


def sync_partitions(instance: DagsterInstance, registry: OrganizationRegistry | None = None) -> list[str]:
    """Add a partition for every registered organization; returns the ones added.

    Partitions of disabled or removed organizations are kept, so their history and
    data stay visible; the schedules decide from the registry whom to sync.
    """
    registry = registry or OrganizationRegistry()
    existing = set(instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION))
    new = [o.id for o in registry.load() if o.id not in existing]
    if new:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, new)
    return new
