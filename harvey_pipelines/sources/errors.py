"""What can go wrong talking to an HR system, as exceptions that say what to do."""

from __future__ import annotations


class SourceError(Exception):
    """Base class. Messages never contain credentials."""


class AuthenticationError(SourceError):
    """401/403: the credential is wrong or lacks rights. Never retried."""


class ConfigurationError(SourceError):
    """400/404 on a list: the URL, path or parameters are wrong. Never retried."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class TransientError(SourceError):
    """429, 5xx, timeouts and resets that outlived every retry."""


class CircuitOpenError(SourceError):
    """The circuit breaker is open (a request used every retry): calls fail fast for a while."""


class UnreadableResponse(SourceError):
    """200 with a body that is not the JSON the API promises (after retries)."""

    def __init__(self, message: str, body: bytes = b""):
        super().__init__(message)
        self.body = body
