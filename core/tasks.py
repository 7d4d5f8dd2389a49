"""Background tasks: the one done-callback that makes a task's failure visible."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


def log_failure(task: asyncio.Task[None]) -> None:
    """Done callback for a tracked background task: log the exception it died of. Cancellation,
    the way a task is meant to stop, is not logged."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s died", task.get_name(), exc_info=task.exception())
