"""Scheduling: the event loop's thread raised above the rest of the machine (and optionally kept
on CPUs of its own), its helper threads not.

The thread that reads webhooks and writes orders is the one whose delays a follower sees. Helper
threads (the mirror log writer, the journal's fsync, file work in the default executor) wake right
after a fan-out; at the loop's priority they would take the CPU from whatever the orders just woke
(on one machine, the venue simulators of a benchmark; in production, the terminal or browser the
trader runs beside the daemon). So only the loop's thread is raised and pinned, and every helper
thread puts itself back to the priority and CPUs the process started with.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

_base: int | None = None
_base_cpus: set[int] | None = None


def raise_loop_thread(nice: int) -> str:
    """Give the calling thread (the event loop's, before it starts) the niceness ``nice``.

    Returns a line for the start-up banner: what was set, or why it could not be (a negative value
    needs root or ``CAP_SYS_NICE``; the thread then keeps its priority). No-op for 0.
    """
    global _base
    if nice == 0:
        return ""
    tid = threading.get_native_id()
    current = os.getpriority(os.PRIO_PROCESS, tid)
    try:
        os.setpriority(os.PRIO_PROCESS, tid, nice)
    except PermissionError:
        return f"Priority: could not set nice {nice} (needs root or CAP_SYS_NICE); running at nice {current}"
    _base = current
    return f"Priority: event loop at nice {nice}, helper threads at {current}"


def background() -> None:
    """Called first in a helper thread: back to the process's starting priority and CPUs when the
    loop's thread was raised or pinned (a thread inherits both from its creator), and named after the Python
    thread where the system keeps thread names (Linux: ``top -H``, ``/proc/<pid>/task/*/comm``)."""
    _name_os_thread(threading.current_thread().name)
    if _base is not None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _base)
    if _base_cpus is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, _base_cpus)


def _name_os_thread(name: str) -> None:
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


_PR_SET_NAME = 15


def pin_loop_thread(cpus: frozenset[int] | None) -> str:
    """Keep the calling thread (the event loop's, before it starts) on ``cpus``; helper threads
    go back to the CPUs the process was allowed. Returns a line for the start-up banner."""
    global _base_cpus
    if not cpus:
        return ""
    if not hasattr(os, "sched_setaffinity"):
        return "CPUs: pinning is not available on this system; the event loop runs on any CPU"
    allowed = os.sched_getaffinity(0)
    chosen = set(cpus) & allowed
    if not chosen:
        return f"CPUs: none of {sorted(cpus)} is available (this process may use {sorted(allowed)}); not pinned"
    os.sched_setaffinity(0, chosen)
    _base_cpus = allowed
    return f"CPUs: event loop on {sorted(chosen)}, helper threads on {sorted(allowed)}"
