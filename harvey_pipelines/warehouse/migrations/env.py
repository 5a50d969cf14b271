"""Alembic's entry point; the warehouse's migration set-up lives in ``migrations/__init__.py``."""

from alembic import context

from harvey_pipelines.warehouse.migrations import run

run(context)
