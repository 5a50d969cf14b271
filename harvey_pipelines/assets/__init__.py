"""Dagster assets: the entity assets (one factory) and their resources."""
