"""The compiled hot path is loaded only from a fresh build, all of it or none of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import core.router
import core.sizing
from core import compiled

Check = Callable[[Path], tuple[bool, str]]


def _tree(tmp_path: Path, *, tag: str | None = None, edit: bool = False) -> Path:
    """A source tree with one module and a manifest of its build."""
    source = tmp_path / "core" / "router.py"
    source.parent.mkdir(parents=True)
    source.write_text("x = 1\n")
    build = tmp_path / "build" / "hot"
    (build / "core").mkdir(parents=True)
    manifest = {
        "cache_tag": tag or compiled.cache_tag(),
        "built": "2026-12-07 12:00:00 UTC",
        "sources": {"core/router.py": compiled.source_digest(source)},
    }
    (build / "manifest.json").write_text(json.dumps(manifest))
    if edit:
        source.write_text("x = 2\n")
    return tmp_path


@pytest.fixture
def check(monkeypatch: pytest.MonkeyPatch) -> Check:
    monkeypatch.delenv("COPIER_COMPILED", raising=False)

    def run(root: Path) -> tuple[bool, str]:
        monkeypatch.setattr(compiled, "ROOT", root)
        monkeypatch.setattr(compiled, "MANIFEST", root / "build" / "hot" / "manifest.json")
        return compiled._check()

    return run


def test_a_fresh_build_is_used(check: Check, tmp_path: Path) -> None:
    used, why = check(_tree(tmp_path))
    assert used and why == "compiled: 1 modules (mypyc), 2026-12-07 12:00:00 UTC"


def test_a_source_edited_since_the_build_runs_interpreted(check: Check, tmp_path: Path) -> None:
    assert check(_tree(tmp_path, edit=True)) == (
        False,
        "interpreted: core/router.py changed since it was compiled (make rebuilds it)",
    )


def test_a_build_for_another_interpreter_or_none_at_all_runs_interpreted(check: Check, tmp_path: Path) -> None:
    used, why = check(_tree(tmp_path / "a", tag="cpython-312"))
    assert not used and why.startswith("interpreted: the compiled build is for cpython-312")
    assert check(tmp_path / "empty") == (False, "interpreted: no compiled build (make builds one)")


def test_the_environment_can_turn_it_off(check: Check, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPIER_COMPILED", "0")
    assert check(_tree(tmp_path)) == (False, "interpreted: COPIER_COMPILED=0")


def test_the_running_suite_uses_the_build_exactly_when_it_is_fresh() -> None:
    """``make test`` builds first, so there the suite runs compiled; with ``COPIER_COMPILED=0``
    or a stale build, every hot module runs from its source."""
    fresh = (
        subprocess.run(
            [sys.executable, str(compiled.ROOT / "tools" / "build_hot.py"), "--check"], check=False
        ).returncode
        == 0
    )
    wanted = fresh and os.environ.get("COPIER_COMPILED", "1") != "0"
    assert compiled.status()[0] is wanted
    for module in (core.router, core.sizing):
        assert compiled.is_compiled(module) is wanted, module.__file__
    if wanted:
        assert Path(core.router.__file__ or "").parent == compiled.BUILD / "core"
    if os.environ.get("COPIER_EXPECT_COMPILED") == "1":
        assert wanted, compiled.status()[1]
