"""The daemon: wires config into connectors, router, ingest edge and control plane on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

import uvicorn

from api.app import ApiContext, create_app
from api.auth import KeyRing
from copier import recovery
from copier.collector import IdleCollector
from copier.config import Config
from copier.defaults import admin_key
from copier.journal import Journal
from copier.sources import BackgroundSource, build_sources
from copier.store.store import Store
from copier.venues import build_connector
from copier.warm import WarmKeeper
from core import compiled
from core.connector import Connector, ConnectorState
from core.mirror import MirrorLog
from core.priority import background, pin_loop_thread, raise_loop_thread
from core.router import Router
from core.symbols import SymbolTable
from core.tasks import log_failure
from ingest.edge import IngestEdge, WebhookSource
from ingest.tls import ServerTls, keep_fresh

log = logging.getLogger("copier")

WEBHOOK_KINDS = ("tradingview", "rest", "manual")
FILEDROP_WIRED = True


class _EmbeddedServer(uvicorn.Server):
    """uvicorn on our loop: the daemon owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Daemon:
    """One Copier process. ``start`` → serve → ``stop``; ``run`` does all three until SIGINT/SIGTERM."""

    config: Config
    out: TextIO = field(default_factory=lambda: sys.stdout)
    connectors: dict[str, Connector] = field(default_factory=dict)
    webhook_port: int = 0
    api_port: int = 0

    async def start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        # File work handed to threads (asyncio.to_thread) runs at the helpers' priority.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(thread_name_prefix="copier-io", initializer=background)
        )
        self.mirror = MirrorLog(cfg.mirror_path, max_bytes=cfg.mirror_max_bytes, backups=cfg.mirror_backups)
        self.mirror.start()
        for account in cfg.accounts:
            conn = build_connector(account.venue, account.venue_config)
            self.connectors[account.name] = conn
        await asyncio.gather(*(self._start_connector(c) for c in self.connectors.values()))
        self.store = await Store.open(cfg.storage_url)
        await self.store.migrate()
        await self.store.close()
        journal_dir = cfg.data_dir / "journal"
        recovered = recovery.load_journal(journal_dir)
        state, links = recovered.state, recovered.links
        self.journal = Journal(journal_dir, fsync=cfg.journal_fsync, fsync_interval=cfg.journal_fsync_interval)
        # The SQL store is fed from the journal by a process of its own: no SQL work on this loop.
        self.projector = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "copier.projector",
            "--journal",
            str(journal_dir),
            "--url",
            cfg.storage_url,
            "--parent",
            str(os.getpid()),
        )
        self.router = Router(
            routes=cfg.routes,
            connectors=self.connectors,
            mirror=self.mirror,
            account_symbols={a.name: a.symbols for a in cfg.accounts},
            symbols=SymbolTable(cfg.aliases),
            dedupe_window=cfg.dedupe_window,
            journal=self.journal,
            links=links,
        )
        # Listens to the journal from here on, before any job runs: see recovery.Adoption.
        self.adoption = recovery.Adoption(
            recovered, self.journal, self.router, self.mirror, symbols=self._configured_symbols()
        )
        resumed = recovery.resume(state, self.router, self.mirror)
        if resumed["resumed"] or resumed["unrouted"]:
            log.info("recovery: %(signals)d signals in the journal, %(resumed)d followers resumed", resumed)
        self.mirror.emit("recovery", status="done", detail=resumed)
        sources = {
            s.name: WebhookSource(s.name, s.kind, s.token, s.allow_ips, s.options)
            for s in cfg.sources
            if s.kind in WEBHOOK_KINDS
        }
        self.background: list[BackgroundSource] = build_sources(
            cfg.sources, self.router.submit, self.mirror, cfg.data_dir
        )
        self.edge = IngestEdge(sources, self.router.submit, self.mirror)
        self.tls = ServerTls(cfg.webhook_tls) if cfg.webhook_tls is not None else None
        self.webhook_port = await self.edge.start(
            cfg.webhook.host, cfg.webhook.port, self.tls.context if self.tls is not None else None
        )
        self.tls_task: asyncio.Task[None] | None = None
        if self.tls is not None:
            self.tls_task = asyncio.create_task(keep_fresh(self.tls), name="webhook-tls-reload")
            self.tls_task.add_done_callback(log_failure)
        keys = KeyRing((k.name, k.key, k.scopes) for k in cfg.api_keys)
        self.admin_key = admin_key(cfg.data_dir)
        keys.add("admin", self.admin_key, ("admin",))
        context = ApiContext(
            router=self.router,
            connectors=self.connectors,
            keys=keys,
            sources=tuple(s.name for s in cfg.sources),
            mirror=self.mirror,
            accepting=lambda: self.edge.accepting,
        )
        app = create_app(context)
        server_config = uvicorn.Config(
            app,
            host=cfg.api.host,
            port=cfg.api.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.api_server = _EmbeddedServer(server_config)
        self.api_task = asyncio.create_task(self.api_server.serve(), name="control-plane")
        while not self.api_server.started:
            if self.api_task.done():
                self.api_task.result()
                raise RuntimeError("control plane stopped during start")
            await asyncio.sleep(0.01)
        servers = getattr(self.api_server, "servers", [])
        self.api_port = servers[0].sockets[0].getsockname()[1] if servers else cfg.api.port
        for source in self.background:
            await source.start()
        # Everything built so far lives as long as the daemon: move it out of the collector's way
        # so a full collection does not walk it in the middle of a fan-out.
        gc.collect()
        gc.freeze()
        # From here on the collector runs between fan-outs, not in the middle of one.
        self.collector = IdleCollector(lambda: self.router.fanning_out)
        self.collector.start()
        self.warm = WarmKeeper(
            self.edge.rehearse,
            self.router,
            interval=cfg.warm_interval,
            followers=cfg.warm_followers,
            busy=lambda: self.router.fanning_out,
        )
        self.warm.start()
        self.mirror.emit("daemon_started", detail={"accounts": list(self.connectors), "sources": list(sources)})
        # After intake opened: asking the venues takes round trips (one per symbol on Binance) and
        # waits for the recovered followers, and no new signal depends on what is adopted.
        self.adoption_task = asyncio.create_task(self._adopt(), name="adoption")
        self._banner()

    def _configured_symbols(self) -> dict[str, set[str]]:
        """Venue symbols the configuration names per account (explicit maps of accounts and routes)."""
        named: dict[str, set[str]] = {a.name: set(a.symbols.explicit.values()) for a in self.config.accounts}
        for route in self.config.routes:
            named.setdefault(route.account, set()).update(route.symbols.values())
        return named

    async def _adopt(self) -> None:
        try:
            await self.adoption.run()
        except Exception as exc:
            log.exception("recovery: adopting orders the journal lost failed")
            self.mirror.emit("adoption_failed", status="failed", reason=f"adoption stopped: {exc}")

    async def _start_connector(self, conn: Connector) -> None:
        await conn.start()
        self.mirror.emit("connector_up", account=conn.name, venue=conn.venue, status=ConnectorState.UP.value)

    def _banner(self) -> None:
        cfg = self.config
        lines = ["Copier is running."]
        for source in cfg.sources:
            if source.kind in WEBHOOK_KINDS:
                scheme = "https" if self.tls is not None else "http"
                url = f"{scheme}://{cfg.webhook.host}:{self.webhook_port}/webhook/{source.name}"
                if source.token:
                    url += f"?token={source.token}"
                lines.append(f"  webhook   {url}")
        lines.append(f"  api       http://{cfg.api.host}:{self.api_port}/api/v1   (docs: /docs)")
        lines.append(f"  viewer    http://{cfg.api.host}:{self.api_port}/logs")
        lines.append(f"  api key   {self.admin_key}   (admin; send as 'Authorization: Bearer <key>')")
        for source in cfg.sources:
            if source.kind == "filedrop":
                lines.append(f"  inbox     {source.venue_config.inbox}   (drop CSV or JSON order files)")
        lines.append(f"  mirror    {cfg.mirror_path}")
        lines.append(f"  accounts  {', '.join(self.connectors)}")
        lines.append(f"  hot path  {compiled.status()[1]}")
        print("\n".join(lines), file=self.out, flush=True)

    async def stop(self, drain_seconds: float = 10.0) -> None:
        """Stop intake, finish in-flight orders, stop the servers, flush the log."""
        if not self.adoption_task.done():
            self.adoption_task.cancel()
            await asyncio.gather(self.adoption_task, return_exceptions=True)
        self.adoption.close()
        await self.warm.stop()
        if self.tls_task is not None:
            self.tls_task.cancel()
            await asyncio.gather(self.tls_task, return_exceptions=True)
        await self.edge.stop_intake()
        for source in self.background:
            await source.stop()
        try:
            await asyncio.wait_for(self.router.drain(), drain_seconds)
        except TimeoutError:
            log.warning("orders still in flight after %.0f s; stopping anyway", drain_seconds)
        await self.router.stop()
        self.journal.close()
        if self.projector.returncode is None:
            self.projector.terminate()
            try:
                await asyncio.wait_for(self.projector.wait(), 30)
            except TimeoutError:
                log.warning("the store projector did not finish in 30 s; it resumes from the journal next start")
                self.projector.kill()
        self.api_server.should_exit = True
        await asyncio.gather(self.api_task, return_exceptions=True)
        await self.edge.close()
        for conn in self.connectors.values():
            await conn.stop()
            self.mirror.emit("connector_down", account=conn.name, venue=conn.venue, status="down", reason="shutdown")
        await self.collector.stop()
        self.mirror.emit("daemon_stopped")
        await self.mirror.close()

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        print("Stopping: finishing orders in flight…", file=self.out, flush=True)
        await self.stop()


def run(config: Config, **kwargs: Any) -> None:
    """Run the daemon on uvloop (asyncio where uvloop is unavailable) until SIGINT or SIGTERM,
    its event loop's thread at the configured priority and CPUs (``[process]``)."""
    for said in (raise_loop_thread(config.nice), pin_loop_thread(config.cpus)):
        if said:
            print(said, file=kwargs.get("out") or sys.stdout, flush=True)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(Daemon(config, **kwargs).run())
