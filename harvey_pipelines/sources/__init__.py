"""Talking to HR systems: one HTTP engine, one small adapter per vendor."""

from harvey_pipelines.sources.base import DeletionsPage, FanOutPage, FetchContext, SourceAdapter, adapter_for
from harvey_pipelines.sources.errors import (
    AuthenticationError,
    ConfigurationError,
    SourceError,
    TransientError,
    UnreadableResponse,
)
from harvey_pipelines.sources.paging import PagingState

__all__ = [
    "AuthenticationError", "ConfigurationError", "DeletionsPage", "FanOutPage", "FetchContext", "PagingState",
    "SourceAdapter", "SourceError", "TransientError", "UnreadableResponse", "adapter_for",
]
