"""The hot path's modules as C extensions compiled by mypyc, where a fresh build of them exists.

``make`` (through ``tools/build_hot.py``) compiles the modules a fan-out runs through — routing,
sizing, client ids, the outbox, the order sockets' framing and the venue connectors' order path —
into ``build/hot/``, with a manifest of the sources they were built from. A package that holds
such modules extends its ``__path__`` with its folder under ``build/hot/`` ahead of its own
(:func:`package_path`), so ``import core.router`` loads the compiled module and every other module
loads from source as usual.

A build is used only when it is fresh: built for this interpreter, and from sources that are all
unchanged since (their SHA-256 in the manifest). Otherwise every module runs interpreted, and the
daemon says why at start (:func:`status`): a compiled module never runs code older than its
source, and the compiled modules are used all together or not at all, since they call each other
directly. ``COPIER_COMPILED=0`` in the environment turns them off (profilers and the segment
stamps of ``benchmarks.segments`` need the interpreted modules).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The source tree the packages are imported from."""

BUILD = ROOT / "build" / "hot"
"""Where ``tools/build_hot.py`` puts the compiled modules and their manifest."""

MANIFEST = BUILD / "manifest.json"

_state: tuple[bool, str] | None = None


def source_digest(path: Path) -> str:
    """SHA-256 of one source file, as the manifest records it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_tag() -> str:
    """What a build must have been made for: the interpreter and its version (``cpython-311``)."""
    return sys.implementation.cache_tag or sys.implementation.name


def _check() -> tuple[bool, str]:
    if os.environ.get("COPIER_COMPILED", "1") == "0":
        return False, "interpreted: COPIER_COMPILED=0"
    try:
        manifest = json.loads(MANIFEST.read_text())
    except FileNotFoundError:
        return False, "interpreted: no compiled build (make builds one)"
    except (OSError, ValueError) as exc:
        return False, f"interpreted: the compiled build's manifest cannot be read ({exc})"
    if manifest.get("cache_tag") != cache_tag():
        return False, f"interpreted: the compiled build is for {manifest.get('cache_tag')}, not {cache_tag()}"
    sources: dict[str, str] = manifest.get("sources") or {}
    for name, digest in sources.items():
        path = ROOT / name
        try:
            current = source_digest(path)
        except OSError:
            current = ""
        if current != digest:
            return False, f"interpreted: {name} changed since it was compiled (make rebuilds it)"
    if not sources:
        return False, "interpreted: the compiled build names no modules"
    return True, f"compiled: {len(sources)} modules (mypyc), {manifest.get('built', 'at an unknown time')}"


def status() -> tuple[bool, str]:
    """(whether the compiled modules are in use, why, in words); worked out once per process."""
    global _state
    if _state is None:
        _state = _check()
        if _state[0] and str(BUILD) not in sys.path:
            # mypyc puts the compiled modules' shared code in one top-level extension module.
            sys.path.append(str(BUILD))
    return _state


def package_path(path: list[str], package: str) -> list[str]:
    """``path`` (a package's ``__path__``) with the package's folder of compiled modules ahead of
    it when the build is in use; ``path`` itself otherwise."""
    if not status()[0]:
        return path
    folder = BUILD.joinpath(*package.split("."))
    return [str(folder), *path] if folder.is_dir() else path


def is_compiled(module: object) -> bool:
    """Whether ``module`` was loaded from a compiled extension rather than from its source."""
    return not str(getattr(module, "__file__", "") or "").endswith(".py")
