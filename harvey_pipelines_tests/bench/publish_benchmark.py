"""What publishing the analysts' copy of a DuckDB warehouse costs (README, "Reading the warehouse").

    python -m harvey_pipelines_tests.bench.publish_benchmark [--warehouse data/warehouse.duckdb]
        [--grow-to-mb 0] [--runs 3]

Works on a copy of --warehouse in a temporary directory (the original is only read). With
--grow-to-mb the copy first grows to at least that size: every core and raw row copied again
under new organization ids (acme -> acme-1, ...), checkpointed. Then Warehouse.publish() runs
--runs times: the time a sync waiting for the writers' turn waits at most, once per publish
(checkpoint, byte copy, fsync and rename). For comparison, DuckDB's own copy of the database
into a new file (ATTACH, COPY FROM DATABASE), the way to publish a subset of the schemas.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from harvey_pipelines import settings
from harvey_pipelines.warehouse import Warehouse


def grow(path: Path, megabytes: int) -> int:
    """Copy every core and raw row under new organization ids until the file holds ``megabytes``;
    the number of copies made."""
    with duckdb.connect(str(path)) as conn:
        tables = conn.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                              "WHERE schema_name IN ('core', 'raw')").fetchall()
        originals = [o for (o,) in conn.execute("SELECT DISTINCT organization_id FROM core.employees").fetchall()]
        quoted = ", ".join(f"'{o}'" for o in originals)
        copies = 0
        while path.stat().st_size < megabytes * 1e6:
            copies += 1
            for schema, table in tables:
                conn.execute(f"INSERT INTO {schema}.{table} SELECT * REPLACE (organization_id || '-{copies}' AS "
                             f"organization_id) FROM {schema}.{table} WHERE organization_id IN ({quoted})")
            conn.execute("CHECKPOINT")
        return copies


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=settings.data_dir() / "warehouse.duckdb")
    parser.add_argument("--grow-to-mb", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.warehouse.parent) as scratch:  # same file system as the data
        path = Path(scratch) / "warehouse.duckdb"
        shutil.copyfile(args.warehouse, path)
        copies = grow(path, args.grow_to_mb) if args.grow_to_mb else 0
        size = path.stat().st_size / 1e6
        warehouse = Warehouse(f"duckdb:///{path}")
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            warehouse.publish()
            times.append(time.perf_counter() - started)
        warehouse.dispose()
        started = time.perf_counter()
        with duckdb.connect(str(path)) as conn:
            conn.execute(f"ATTACH '{Path(scratch) / 'rewritten.duckdb'}' AS rewritten")
            conn.execute("COPY FROM DATABASE warehouse TO rewritten")
        rewrite = time.perf_counter() - started
    print(f"| warehouse | MB | Warehouse.publish() median (min–max) of {args.runs} | COPY FROM DATABASE |")
    print("|---|---:|---:|---:|")
    print(f"| {args.warehouse}{f' grown x{copies + 1}' if copies else ''} | {size:.0f} | "
          f"{statistics.median(times):.2f} s ({min(times):.2f}–{max(times):.2f}) | {rewrite:.1f} s |")


if __name__ == "__main__":
    main()
