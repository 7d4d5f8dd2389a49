"""Feeds the SQL store from the journal, in its own process, so no SQL work runs in the daemon.

    python -m copier.projector --journal DIR --url URL [--parent PID]

It tails the journal's segments from the position it last applied (kept in
``<journal>/.projected``), applies complete lines to the store in batches, and on SIGTERM (or
when its parent is gone) drains what is left and exits. Records are idempotent in the store, so
reading a stretch twice after a crash is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import orjson

from copier.journal import segments
from copier.store.store import Store

log = logging.getLogger("copier.projector")

POSITION_FILE = ".projected"


class JournalTail:
    """Reads the journal's complete lines after a remembered (segment, offset)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.segment = ""
        self.offset = 0
        self._load()

    def _load(self) -> None:
        try:
            saved = orjson.loads((self.folder / POSITION_FILE).read_bytes())
            self.segment, self.offset = str(saved["segment"]), int(saved["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            self.segment, self.offset = "", 0

    def save(self) -> None:
        temp = self.folder / (POSITION_FILE + ".tmp")
        temp.write_bytes(orjson.dumps({"segment": self.segment, "offset": self.offset}))
        os.replace(temp, self.folder / POSITION_FILE)

    def read(self, limit: int = 5000) -> list[dict[str, Any]]:
        """Up to ``limit`` new records, advancing the position past them."""
        records: list[dict[str, Any]] = []
        for path in segments(self.folder):
            if self.segment and path.name < self.segment:
                continue
            if path.name != self.segment:
                self.segment, self.offset = path.name, 0
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if self.offset > size:  # the segment was rewritten (compaction): read it again
                    self.offset = 0
                handle.seek(self.offset)
                data = handle.read(max(0, size - self.offset))
            end = data.rfind(b"\n") + 1
            for line in data[:end].splitlines():
                if line.strip():
                    try:
                        records.append(orjson.loads(line))
                    except orjson.JSONDecodeError:
                        log.warning("skipping an unreadable journal line in %s", path.name)
            self.offset += end
            if len(records) >= limit or end < len(data):
                break
        return records


async def project(journal: Path, url: str, stop: asyncio.Event, *, interval: float = 0.2) -> int:
    """Apply the journal to the store until ``stop`` is set, then drain; returns records applied."""
    store = await Store.open(url)
    await store.migrate()
    tail = JournalTail(journal)
    applied = 0
    try:
        while True:
            records = tail.read()
            if records:
                await store.apply(records)
                tail.save()
                applied += len(records)
                continue
            if stop.is_set():
                return applied
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
    finally:
        await store.close()


def _yield_the_cpu() -> None:
    """Background work: the projector runs only when the daemon's event loop does not want the CPU.

    ``SCHED_IDLE`` (Linux) is preempted at once when the daemon wakes, where a nice value only
    lowers the projector's share; elsewhere the nice value is the fallback.
    """
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is not None:
        try:
            os.sched_setscheduler(0, policy, os.sched_param(0))
            return
        except OSError:
            pass
    os.nice(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journal", required=True, type=Path)
    parser.add_argument("--url", required=True)
    parser.add_argument("--parent", type=int, default=0, help="exit once this process is gone")
    args = parser.parse_args()
    _yield_the_cpu()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)

        async def watch_parent() -> None:
            while args.parent and not stop.is_set():
                if os.getppid() != args.parent:
                    stop.set()
                await asyncio.sleep(1)

        watcher = asyncio.create_task(watch_parent(), name="projector-parent-watch")
        try:
            await project(args.journal, args.url, stop)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    asyncio.run(run())


if __name__ == "__main__":
    main()
