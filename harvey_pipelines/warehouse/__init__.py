"""The warehouse: schema and its migrations, bulk loading, raw versions, sync runs, cursors, quarantine."""

from harvey_pipelines.warehouse.store import (
    BatchCounts,
    FailureChain,
    Quarantined,
    ReferenceTolerance,
    SyncRun,
    UnresolvedReferences,
    Warehouse,
)

__all__ = ["BatchCounts", "FailureChain", "Quarantined", "ReferenceTolerance", "SyncRun", "UnresolvedReferences",
           "Warehouse"]
