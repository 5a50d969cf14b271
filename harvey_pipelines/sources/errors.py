"""What can go wrong talking to an HR system, as exceptions that say what to do."""

from __future__ import annotations

# What a failure is, as sync.sync_runs.failure_kind records it. Configuration and credential
# failures need a person (no retry fixes them); transient and data ones are retried.
FAILURE_KINDS = ("configuration", "credential", "transient", "data")
NOT_RETRIED = ("configuration", "credential")


class SourceError(Exception):
    """Base class. Messages never contain credentials."""

    kind = "transient"


class AuthenticationError(SourceError):
    """401/403: the credential is wrong or lacks rights. Never retried."""

    kind = "credential"


class ConfigurationError(SourceError):
    """400/404 on a list: the URL, path or parameters are wrong. Never retried."""

    kind = "configuration"

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class TransientError(SourceError):
    """429, 5xx, timeouts and resets that outlived every retry. ``kind`` "configuration" when
    the host never answered at all (unknown host, connection refused): a wrong base_url or a
    server that is not running, which the sync's own retries have already waited out."""

    def __init__(self, message: str, kind: str = "transient"):
        super().__init__(message)
        self.kind = kind


class CircuitOpenError(SourceError):
    """The circuit breaker is open (a request used every retry): calls fail fast for a while.
    ``kind``: that of the fault that opened it."""

    def __init__(self, message: str, kind: str = "transient"):
        super().__init__(message)
        self.kind = kind


class UnreadableResponse(SourceError):
    """200 with a body that is not the JSON the API promises (after retries)."""

    kind = "data"

    def __init__(self, message: str, body: bytes = b""):
        super().__init__(message)
        self.body = body
