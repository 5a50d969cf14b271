"""Great Expectations on the warehouse's own connection, through GX's SQL execution engine.

GX's SQL data source builds its own engine from a connection string. That does not work for
us: on DuckDB a second engine would have to open the file that our writers take turns on,
and GX closes its connection before it fetches a result, which DuckDB drops with the
connection (PostgreSQL's driver has buffered it). So a validation here runs every query on
one connection the caller opened (``Warehouse.snapshot``): the writers' turn on DuckDB, one
REPEATABLE READ snapshot on PostgreSQL, so every rule counts the same rows. The data never
leaves the warehouse: GX sends aggregate queries and fetches at most ``examples`` ids per rule.

Import this module only where a validation runs: GX costs seconds to import.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import great_expectations as gx
import sqlalchemy as sa
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine

_connections: dict[str, sa.Connection] = {}  # datasource name -> the connection of its validation
_names = itertools.count()


class _OnOneConnection(SqlAlchemyExecutionEngine):
    def __init__(self, connection: sa.Connection):
        super().__init__(engine=connection.engine, create_temp_table=False)
        self.connection = connection

    @contextmanager
    def get_connection(self) -> Iterator[sa.Connection]:
        yield self.connection  # GX's own closes it after each query; ours stays the caller's


class WarehouseDatasource(SQLDatasource):
    """A GX SQL data source whose queries all run on one given connection (registered with
    GX's fluent data sources as ``harvey_warehouse`` when this module is imported)."""

    type: Literal["harvey_warehouse"] = "harvey_warehouse"  # type: ignore[assignment]

    def get_engine(self) -> sa.Engine:
        return _connections[self.name].engine

    def get_execution_engine(self) -> SqlAlchemyExecutionEngine:
        connection = _connections[self.name]
        if not isinstance(self._execution_engine, _OnOneConnection) or \
                self._execution_engine.connection is not connection:
            self._execution_engine = _OnOneConnection(connection)
        return self._execution_engine


def validate(connection: sa.Connection, table: sa.Table, expectations: list, examples: int,
             id_columns: list[str]) -> list:
    """The GX results of ``expectations`` over ``table``, run in the warehouse on ``connection``;
    each failing one names at most ``examples`` rows by ``id_columns``. A table, not a query:
    GX learns a query's columns by running it whole (and PostgreSQL's driver then holds every
    row in memory), a table's from the catalog; rows are chosen by the expectations' row
    conditions."""
    name = f"warehouse-{next(_names)}"
    _connections[name] = connection
    try:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_harvey_warehouse(name, connection_string="harvey://warehouse")
        asset = source.add_table_asset("rows", table_name=table.name, schema_name=table.schema)
        batch = asset.add_batch_definition_whole_table("all")
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        validation = context.validation_definitions.add(gx.ValidationDefinition(data=batch, suite=suite, name=name))
        return list(validation.run(result_format={
            "result_format": "SUMMARY", "unexpected_index_column_names": id_columns,
            "partial_unexpected_count": examples}).results)
    finally:
        del _connections[name]
