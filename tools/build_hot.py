"""Compile the hot path's modules to C extensions with mypyc, into ``build/hot/``.

    python tools/build_hot.py            # build when a source changed since the last build
    python tools/build_hot.py --force    # build anyway
    python tools/build_hot.py --check    # exit 0 when the build is fresh, 1 when not

``make run``, ``make test`` and ``make bench`` call it; it takes about a minute and a half on two
cores and does nothing when the build is fresh. The daemon loads the compiled modules only while the build is fresh
(:mod:`core.compiled`), so a source edited since simply runs interpreted until the next build.

The modules are the ones a fan-out runs through between a signal and its last order write:
routing, sizing, client ids, guards, symbol maps, the outbox, the sockets' framing and each
venue's order path. mypyc checks them with mypy as it compiles; they are all strictly typed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.compiled import (  # noqa: E402
    BUILD,
    MANIFEST,
    cache_tag,
    pinned_versions,
    read_manifest,
    scope_sources,
    stale_reason,
)

HOT_MODULES = (
    "core/enums.py",
    "core/signal.py",
    "core/instrument.py",
    "core/records.py",
    "core/recent.py",
    "core/orders.py",
    "core/sizing.py",
    "core/guards.py",
    "core/symbols.py",
    "core/outbox.py",
    "core/ratelimit.py",
    "core/outcomes.py",
    "core/links.py",
    "core/router.py",
    "connectors/wire.py",
    "connectors/deadline.py",
    "ingest/tradingview/fields.py",
    "ingest/tradingview/options.py",
    "ingest/tradingview/placeholders.py",
    "ingest/tradingview/json_form.py",
    "ingest/tradingview/text_form.py",
    "ingest/tradingview/parse.py",
    "connectors/okx/parse.py",
    "connectors/okx/client.py",
    "connectors/okx/connector.py",
    "connectors/binance/auth.py",
    "connectors/binance/parse.py",
    "connectors/binance/client.py",
    "connectors/binance/connector.py",
    "connectors/bybit/auth.py",
    "connectors/bybit/parse.py",
    "connectors/bybit/client.py",
    "connectors/bybit/connector.py",
)
"""Compiled, as paths from the project's root."""

GROUP = "copier_hot"
"""The name of the one extension module that holds the compiled modules' shared code."""


def fresh() -> bool:
    """Whether ``build/hot`` holds these modules, whole, built from the current sources with the
    current compiler and libraries, for this interpreter (:func:`core.compiled.stale_reason`)."""
    manifest = read_manifest()
    return manifest is not None and manifest.get("modules") == list(HOT_MODULES) and stale_reason(manifest) is None


def build() -> int:
    """Compile every module in :data:`HOT_MODULES`; 0 on success. The compiler's output goes to
    ``build/hot-work/build.log``; its end is printed when the build fails."""
    # Taken before compiling: a source edited meanwhile leaves the build stale, not wrong.
    sources, packages = scope_sources(), pinned_versions()
    work = ROOT / "build" / "hot-work"
    shutil.rmtree(BUILD, ignore_errors=True)  # no module of an earlier list may outlive it
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = work / "build.log"
    print(f"build_hot: compiling {len(HOT_MODULES)} modules of the hot path with mypyc (log: {log})", flush=True)
    started = time.monotonic()
    with log.open("wb") as out:
        done = subprocess.run(
            [sys.executable, __file__, "--compile-into", str(work)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        shutil.rmtree(BUILD, ignore_errors=True)
        tail = log.read_text(errors="replace").splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
        print(f"build_hot: compiling the hot path failed (exit {done.returncode}); see {log}", file=sys.stderr)
        return 1
    manifest = {
        "cache_tag": cache_tag(),
        "built": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "modules": list(HOT_MODULES),
        "library": GROUP + "__mypyc",
        "packages": packages,
        "sources": sources,
    }
    partial = MANIFEST.with_suffix(".tmp")
    partial.write_text(json.dumps(manifest, indent=1))
    partial.replace(MANIFEST)
    print(f"build_hot: {len(HOT_MODULES)} modules compiled into {BUILD} in {time.monotonic() - started:.0f} s")
    return 0


def compile_into(work: Path) -> int:
    """mypyc and setuptools' ``build_ext``, run from the project's root (mypyc names each module by
    its path from there); the C sources and objects go under ``work``, the modules to ``build/hot``."""
    try:
        from mypyc.build import mypycify
        from setuptools import setup
    except ImportError as exc:
        print(f"mypyc or setuptools is missing ({exc}): pip install -e '.[dev]'")
        return 1
    warnings.simplefilter("ignore")  # setuptools' notes on the project's own metadata, not on this build
    extensions = mypycify(
        list(HOT_MODULES), opt_level="3", group_name=GROUP, target_dir=str(work / "c"), multi_file=True
    )
    build_ext = ["build_ext", "--parallel", str(os.cpu_count() or 1), "--build-lib", str(BUILD)]
    setup(name=GROUP, ext_modules=extensions, script_args=[*build_ext, "--build-temp", str(work / "obj")])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="build even when the build is fresh")
    parser.add_argument("--check", action="store_true", help="only say whether the build is fresh (exit 0) or not (1)")
    parser.add_argument("--compile-into", type=Path, help=argparse.SUPPRESS)  # the child process of a build
    args = parser.parse_args(argv)
    if args.compile_into is not None:
        return compile_into(args.compile_into)
    if args.check:
        return 0 if fresh() else 1
    if fresh() and not args.force:
        return 0
    return build()


if __name__ == "__main__":
    sys.exit(main())
