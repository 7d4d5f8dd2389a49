"""The compiled hot path is loaded only from a fresh and whole build, all of it or none of it."""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from core import compiled

Check = Callable[[Path], tuple[bool, str]]
TOOLS = compiled.ROOT / "tools"


def _hot_modules() -> tuple[str, ...]:
    sys.path.insert(0, str(TOOLS))
    try:
        return tuple(importlib.import_module("build_hot").HOT_MODULES)
    finally:
        sys.path.remove(str(TOOLS))


def _tree(root: Path, **changes: object) -> Path:
    """A source tree with one compiled module and a whole build of it; ``changes`` override the manifest."""
    source = root / "core" / "router.py"
    source.parent.mkdir(parents=True)
    source.write_text("x = 1\n")
    build = root / "build" / "hot"
    extension = build / "core" / ("router" + compiled.EXTENSION_SUFFIXES[0])
    extension.parent.mkdir(parents=True)
    extension.write_bytes(b"")
    (build / ("copier_hot__mypyc" + compiled.EXTENSION_SUFFIXES[0])).write_bytes(b"")
    manifest = {
        "cache_tag": compiled.cache_tag(),
        "built": "2026-12-07 12:00:00 UTC",
        "modules": ["core/router.py"],
        "library": "copier_hot__mypyc",
        "packages": compiled.pinned_versions(),
        "sources": {"core/router.py": compiled.source_digest(source)},
    } | changes
    (build / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture
def check(monkeypatch: pytest.MonkeyPatch) -> Check:
    monkeypatch.delenv("COPIER_COMPILED", raising=False)
    loaded: list[Path] = []
    monkeypatch.setattr(compiled, "_load_library", lambda name, path: loaded.append(path))

    def run(root: Path) -> tuple[bool, str]:
        monkeypatch.setattr(compiled, "ROOT", root)
        monkeypatch.setattr(compiled, "BUILD", root / "build" / "hot")
        monkeypatch.setattr(compiled, "MANIFEST", root / "build" / "hot" / "manifest.json")
        return compiled._check()

    return run


def test_a_fresh_whole_build_is_used(check: Check, tmp_path: Path) -> None:
    assert check(_tree(tmp_path)) == (True, "compiled: 1 modules (mypyc), 2026-12-07 12:00:00 UTC")


def test_a_source_edited_or_added_since_the_build_runs_interpreted(check: Check, tmp_path: Path) -> None:
    edited = _tree(tmp_path / "edited")
    (edited / "core" / "router.py").write_text("x = 2\n")
    assert check(edited) == (
        False,
        "interpreted: core/router.py changed since the hot path was compiled (make rebuilds it)",
    )
    # A module the compiled ones only import is part of what they were compiled against.
    added = _tree(tmp_path / "added")
    (added / "connectors").mkdir()
    (added / "connectors" / "config.py").write_text("timeout: float = 1.0\n")
    assert check(added)[1] == (
        "interpreted: connectors/config.py changed since the hot path was compiled (make rebuilds it)"
    )


def test_another_compiler_or_library_version_runs_interpreted(check: Check, tmp_path: Path) -> None:
    versions = compiled.pinned_versions() | {"aiohttp": "3.0.0"}
    used, why = check(_tree(tmp_path, packages=versions))
    assert not used and why.startswith("interpreted: aiohttp is ")
    assert why.endswith("the hot path was compiled with 3.0.0")


def test_an_incomplete_build_runs_interpreted(check: Check, tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    (tree / "build" / "hot" / "core" / ("router" + compiled.EXTENSION_SUFFIXES[0])).unlink()
    assert check(tree) == (False, "interpreted: the compiled build is incomplete (core/router.py missing)")


def test_a_build_for_another_interpreter_or_none_at_all_runs_interpreted(check: Check, tmp_path: Path) -> None:
    used, why = check(_tree(tmp_path / "a", cache_tag="cpython-312"))
    assert not used and why.startswith("interpreted: the compiled build is for cpython-312")
    assert check(tmp_path / "empty") == (False, "interpreted: no compiled build (make builds one)")


def test_the_environment_can_turn_it_off(check: Check, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPIER_COMPILED", "0")
    assert check(_tree(tmp_path)) == (False, "interpreted: COPIER_COMPILED=0")


def test_the_scope_holds_every_copier_module_a_compiled_one_imports() -> None:
    """A compiled module is compiled against what it imports: all of it must be in the manifest."""
    copier_packages = {"core", "connectors", "ingest", "copier", "api", "logviewer"}
    for name in _hot_modules():
        tree = ast.parse((compiled.ROOT / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported = [node.module]
            elif isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            else:
                continue
            for module in imported:
                top = module.split(".")[0]
                if top in copier_packages:
                    assert top in compiled.SCOPE, f"{name} imports {module}, outside {compiled.SCOPE}"


def test_the_running_suite_uses_the_build_exactly_when_it_is_fresh() -> None:
    """``make test`` builds first, so there the suite runs compiled, every hot module; with
    ``COPIER_COMPILED=0`` or a stale build, every hot module runs from its source."""
    fresh = subprocess.run([sys.executable, str(TOOLS / "build_hot.py"), "--check"], check=False).returncode == 0
    wanted = fresh and os.environ.get("COPIER_COMPILED", "1") != "0"
    assert compiled.status()[0] is wanted
    for name in _hot_modules():
        module = importlib.import_module(name.removesuffix(".py").replace("/", "."))
        assert compiled.is_compiled(module) is wanted, module.__file__
        if wanted:
            assert Path(module.__file__ or "") == compiled.extension_path(name)
    if wanted:
        library = sys.modules["copier_hot__mypyc"]
        assert Path(library.__file__ or "").parent == compiled.BUILD
    if os.environ.get("COPIER_EXPECT_COMPILED") == "1":
        assert wanted, compiled.status()[1]
