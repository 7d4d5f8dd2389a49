"""The hot path's modules as C extensions compiled by mypyc, where a fresh build of them exists.

``make`` (through ``tools/build_hot.py``) compiles the modules a fan-out runs through — routing,
sizing, client ids, the outbox, the order sockets' framing and the venue connectors' order path —
into ``build/hot/``, with a manifest of the sources they were built from. A package that holds
such modules extends its ``__path__`` with its folder under ``build/hot/`` ahead of its own
(:func:`package_path`), so ``import core.router`` loads the compiled module and every other module
loads from source as usual.

A build is used only when it is fresh and whole: built for this interpreter, from sources that are
all unchanged since — every module of the packages the compiled ones import from (:data:`SCOPE`),
since mypyc builds in the types it found there — with the same versions of the compiler and of
the libraries it typed against (:data:`PINNED`), and with every compiled module and the shared
library on disk. Otherwise every module runs interpreted, and the daemon says why at start
(:func:`status`): a compiled module never runs against code newer than it was compiled with, and
the compiled modules are used all together or not at all, since they call each other directly.
The shared library is loaded from ``build/hot`` by its path, never looked up on ``sys.path``.
``COPIER_COMPILED=0`` in the environment turns them off (profilers and the segment stamps of
``benchmarks.segments`` need the interpreted modules).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from importlib import metadata
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
"""The source tree the packages are imported from."""

BUILD = ROOT / "build" / "hot"
"""Where ``tools/build_hot.py`` puts the compiled modules and their manifest."""

MANIFEST = BUILD / "manifest.json"

SCOPE = ("core", "connectors", "ingest")
"""The packages whose sources a build depends on: the compiled modules and all they import of Copier."""

PINNED = ("mypy", "aiohttp", "orjson", "yarl", "multidict", "cryptography")
"""The compiler, and the libraries whose types the compiled modules were checked and compiled against."""

_state: tuple[bool, str] | None = None


def source_digest(path: Path) -> str:
    """SHA-256 of one source file, as the manifest records it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_tag() -> str:
    """What a build must have been made for: the interpreter and its version (``cpython-311``)."""
    return sys.implementation.cache_tag or sys.implementation.name


def scope_sources() -> dict[str, str]:
    """Every source file of :data:`SCOPE`, as paths from :data:`ROOT`, with its digest."""
    files = sorted(path for package in SCOPE for path in (ROOT / package).rglob("*.py"))
    return {path.relative_to(ROOT).as_posix(): source_digest(path) for path in files}


def pinned_versions() -> dict[str, str]:
    """The installed versions of :data:`PINNED` ("absent" for one that is not installed)."""
    versions = {}
    for name in PINNED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def extension_path(module: str) -> Path:
    """Where the build puts the extension of ``module`` (a path such as ``core/router.py``)."""
    return BUILD / (module.removesuffix(".py") + EXTENSION_SUFFIXES[0])


def read_manifest() -> dict[str, Any] | None:
    """The build's manifest, or None when there is none that can be read."""
    try:
        manifest = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def stale_reason(manifest: dict[str, Any]) -> str | None:
    """Why the build ``manifest`` describes cannot be used as it is, or None when it is fresh and whole."""
    if manifest.get("cache_tag") != cache_tag():
        return f"the compiled build is for {manifest.get('cache_tag')}, not {cache_tag()}"
    modules: list[str] = manifest.get("modules") or []
    if not modules:
        return "the compiled build names no modules"
    sources: dict[str, str] = manifest.get("sources") or {}
    current = scope_sources()
    for name in sorted(set(sources) | set(current)):
        if sources.get(name) != current.get(name):
            return f"{name} changed since the hot path was compiled (make rebuilds it)"
    built_with: dict[str, str] = manifest.get("packages") or {}
    for name, version in pinned_versions().items():
        if built_with.get(name) != version:
            return f"{name} is {version}, the hot path was compiled with {built_with.get(name)}"
    missing = [name for name in modules if not extension_path(name).is_file()]
    if not library_path(manifest).is_file():
        missing.append(library_path(manifest).name)
    if missing:
        return f"the compiled build is incomplete ({', '.join(missing)} missing)"
    return None


def library_path(manifest: dict[str, Any]) -> Path:
    """The compiled modules' shared library, which the build names in its manifest."""
    return BUILD / (str(manifest.get("library") or "?") + EXTENSION_SUFFIXES[0])


def _check() -> tuple[bool, str]:
    if os.environ.get("COPIER_COMPILED", "1") == "0":
        return False, "interpreted: COPIER_COMPILED=0"
    if not MANIFEST.exists():
        return False, "interpreted: no compiled build (make builds one)"
    manifest = read_manifest()
    if manifest is None:
        return False, "interpreted: the compiled build's manifest cannot be read"
    reason = stale_reason(manifest)
    if reason is not None:
        return False, f"interpreted: {reason}"
    try:
        _load_library(str(manifest["library"]), library_path(manifest))
    except (ImportError, OSError) as exc:
        return False, f"interpreted: the compiled build's shared library does not load ({exc})"
    modules = manifest["modules"]
    return True, f"compiled: {len(modules)} modules (mypyc), {manifest.get('built', 'at an unknown time')}"


def _load_library(name: str, path: Path) -> None:
    """Load the compiled modules' shared code from ``path`` under ``name``, where their stubs look for it."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no loader for {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module


def status() -> tuple[bool, str]:
    """(whether the compiled modules are in use, why, in words); worked out once per process."""
    global _state
    if _state is None:
        _state = _check()
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
    return str(getattr(module, "__file__", "") or "").endswith(tuple(EXTENSION_SUFFIXES))
