"""Sources that run as background tasks (Telegram, filedrop, master accounts), built from their config tables."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from copier.config import SourceConfig
from core.errors import ConfigError
from core.mirror import MirrorLog
from core.router import SubmitResult
from core.signal import Signal

TELEGRAM_KEYS = ("api_url", "chats", "poll_timeout", "tp_hit_close_fraction")


class BackgroundSource(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def _telegram(source: SourceConfig, submit: Callable[[Signal], SubmitResult], mirror: MirrorLog) -> BackgroundSource:
    from ingest.telegram.source import TelegramSource, TelegramSourceConfig

    where = f"sources.{source.name}"
    for key in source.options:
        if key not in TELEGRAM_KEYS:
            raise ConfigError(f"unknown key {key!r} for a telegram source", f"{where}.{key}")
    if not source.token:
        raise ConfigError('a telegram source needs the bot token (token = "env:…")', f"{where}.token")
    chats = source.options.get("chats", [])
    if not isinstance(chats, list) or not chats:
        raise ConfigError("list the chats to copy from (ids or @usernames)", f"{where}.chats")
    fraction = source.options.get("tp_hit_close_fraction", "0.5")
    config = TelegramSourceConfig(
        name=source.name,
        token=source.token,
        api_url=str(source.options.get("api_url", "https://api.telegram.org")),
        chats=tuple(chats),
        poll_timeout=float(source.options.get("poll_timeout", 25)),
        tp_hit_close_fraction=Decimal(str(fraction)),
    )

    def rejected(message: dict[str, Any], reason: str) -> None:
        chat = message.get("chat", {}) if isinstance(message, dict) else {}
        mirror.emit(
            "signal_rejected",
            source=source.name,
            status="not_a_signal",
            reason=reason,
            detail={
                "chat": chat.get("id") if isinstance(chat, dict) else None,
                "message_id": message.get("message_id") if isinstance(message, dict) else None,
            },
        )

    return TelegramSource(config, submit, rejected)


def build_sources(
    sources: tuple[SourceConfig, ...],
    submit: Callable[[Signal], SubmitResult],
    mirror: MirrorLog,
    data_dir: Path,
) -> list[BackgroundSource]:
    """The background sources of the configuration, not yet started."""
    built: list[BackgroundSource] = []
    for source in sources:
        if source.kind == "telegram":
            built.append(_telegram(source, submit, mirror))
        elif source.kind == "filedrop":
            from ingest.filedrop.watcher import FiledropSource

            built.append(FiledropSource(source.venue_config, submit, mirror))
        elif source.kind == "binance":
            from connectors.binance.master import BinanceMaster

            built.append(BinanceMaster(source.venue_config, submit, source=source.name))
        elif source.kind == "bybit":
            from connectors.bybit.master import BybitMaster

            built.append(BybitMaster(source.venue_config, submit, source=source.name, symbol_suffix=""))
        elif source.kind == "okx":
            from connectors.okx.master import OkxMaster

            built.append(OkxMaster(source.venue_config, submit, source=source.name))
    return built
