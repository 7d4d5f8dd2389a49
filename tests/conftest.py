"""Runs ``async def`` tests on a fresh event loop each (no plugin needed).

The loop is the daemon's own: uvloop where it is installed (``copier run`` uses it there), the
standard loop elsewhere. ``COPIER_TEST_LOOP=asyncio`` runs the suite on the standard loop, the
daemon's loop on Windows.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _runner() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    if os.environ.get("COPIER_TEST_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run
    return asyncio.run


RUN = _runner()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        names = pyfuncitem._fixtureinfo.argnames
        kwargs = {name: pyfuncitem.funcargs[name] for name in names}
        RUN(asyncio.wait_for(pyfuncitem.obj(**kwargs), timeout=60))
        return True
    return None
