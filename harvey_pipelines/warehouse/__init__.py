"""The warehouse: schema, bulk loading, raw versions, sync runs, cursors, quarantine."""

from harvey_pipelines.warehouse.store import BatchCounts, Quarantined, SyncRun, Warehouse

__all__ = ["BatchCounts", "Quarantined", "SyncRun", "Warehouse"]
