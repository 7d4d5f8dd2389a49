"""Errors typed by what the caller does next.

Connectors map venue error codes to these once, in their ``parse`` module; the router decides what to
do from the type alone, never from message text.
"""

from __future__ import annotations


class CopierError(Exception):
    """Base of every error Copier raises on purpose."""


class ConfigError(CopierError):
    """The configuration is wrong: stop and tell the operator. ``path`` names the key."""

    def __init__(self, message: str, path: str = "", line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = path
        if line is not None:
            where = f"{path} (line {line})" if path else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


class ParseError(CopierError):
    """An input could not be read as a signal. ``field`` names the offending part."""

    def __init__(self, reason: str, field: str | None = None, status: int = 400) -> None:
        self.reason = reason
        self.field = field
        self.status = status
        super().__init__(reason)


class Skip(CopierError):
    """A follower order is deliberately not sent; ``reason`` says why in a trader's words."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class AuthError(CopierError):
    """Credentials missing or wrong."""


class VenueError(CopierError):
    """Base of errors that come back from a venue."""

    def __init__(self, reason: str, code: str | int | None = None) -> None:
        self.reason = reason
        self.code = code
        super().__init__(f"{reason} (code {code})" if code is not None else reason)


class VenueRejected(VenueError):
    """The venue clearly refused the order; it does not exist there. Record code and reason."""


class RateLimited(VenueError):
    """Too many requests; retry after ``retry_after`` seconds."""

    def __init__(self, reason: str, code: str | int | None = None, retry_after: float = 1.0) -> None:
        super().__init__(reason, code)
        self.retry_after = retry_after


class TransientError(VenueError):
    """Nothing reached the venue (or it surely did not act); retry with jittered backoff."""


class OutcomeUnknown(VenueError):
    """The order may or may not exist at the venue; reconcile by client order id before resending."""
