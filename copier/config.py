"""The TOML configuration: loading, validation with key paths and file lines, secret references.

Secrets are written as ``env:NAME`` (read from the environment) or ``file:PATH`` (read from a file,
relative to the configuration file's folder) and never appear in error messages.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from copier.secrets import resolve_secret
from copier.venues import venue_settings
from core.enums import Side
from core.errors import ConfigError
from core.guards import Guards
from core.router import Route
from core.sizing import MaxPolicy, MinPolicy, Sizing, SizingMode
from core.symbols import AccountSymbols
from ingest.tls import TlsFiles

SOURCE_KINDS = ("tradingview", "rest", "filedrop", "telegram", "manual")
MASTER_KINDS = ("binance", "bybit", "okx")
ACCOUNT_KEYS_COMMON = ("name", "venue", "symbols", "symbol_prefix", "symbol_suffix")


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SourceConfig:
    name: str
    kind: str
    token: str | None = None
    allow_ips: frozenset[str] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    venue_config: Any = None


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """An account: its venue, its symbol rules, and the venue-specific table for its connector."""

    name: str
    venue: str
    symbols: AccountSymbols
    settings: Mapping[str, Any]
    venue_config: Any = None


@dataclass(frozen=True, slots=True)
class ApiKeyConfig:
    name: str
    key: str
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None
    data_dir: Path
    webhook: Listen
    api: Listen
    storage_url: str
    mirror_path: Path
    mirror_max_bytes: int
    mirror_backups: int
    dedupe_window: float
    sources: tuple[SourceConfig, ...]
    accounts: tuple[AccountConfig, ...]
    routes: tuple[Route, ...]
    api_keys: tuple[ApiKeyConfig, ...]
    aliases: Mapping[str, str]
    journal_fsync: str = "interval"
    journal_fsync_interval: float = 0.05
    warm_interval: float = 0.002
    warm_followers: int = 1
    nice: int = 0
    cpus: frozenset[int] | None = None
    webhook_tls: TlsFiles | None = None


class _Lines:
    """Finds the file line of a key path such as ``routes[0].sizing.mode`` or ``accounts.paper-a.balance``."""

    _header = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"']+)\s*\]\]?")
    _key = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")
    _name = re.compile(r"^\s*name\s*=\s*[\"']([^\"']*)[\"']")

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[str, str], int] = {}
        self.tables: dict[str, int] = {}
        self.names: dict[tuple[str, str], str] = {}
        counters: dict[str, int] = {}
        table = ""
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._header.match(line)
            if header:
                name = header.group(2).strip("\"'")
                if header.group(1) == "[[":
                    index = counters.get(name, 0)
                    counters[name] = index + 1
                    table = f"{name}[{index}]"
                else:
                    table = name
                self.tables.setdefault(table, number)
                continue
            key = self._key.match(line)
            if key:
                self.keys.setdefault((table, key.group(1).strip("\"'")), number)
                named = self._name.match(line)
                if named and "[" in table:
                    self.names[(table.split("[")[0], named.group(1))] = table

    def find(self, path: str) -> int | None:
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
        if not parts:
            return None
        table = parts[0]
        rest = parts[1:]
        if rest and rest[0].startswith("["):
            table += rest.pop(0)
        elif rest and (table, rest[0]) in self.names:
            table = self.names[(table, rest.pop(0))]
        for depth in range(len(rest), 0, -1):
            dotted = ".".join([table, *rest[: depth - 1]]) if depth > 1 else table
            line = self.keys.get((dotted, rest[depth - 1])) or self.keys.get((table, rest[0]))
            if line:
                return line
        return self.tables.get(table)


def _listen(value: Any, path: str) -> Listen:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError('must be "host:port"', path)
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"port {port!r} is not a number from 0 to 65535", path)
    return Listen(host.strip("[]"), int(port))


def _decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, bool):
        raise ConfigError("must be a number", path)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"must be a number, not {value!r}", path) from None
    if not number.is_finite():
        raise ConfigError("must be a finite number", path)
    return number


def _is_whole(value: Any) -> bool:
    """An integer, and not TOML's ``true``/``false`` (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _process(table: Mapping[str, Any]) -> tuple[int, frozenset[int] | None]:
    """``[process]``: the event loop thread's niceness and CPUs."""
    _unknown(table, ("nice", "cpus"), "process")
    nice = table.get("nice", 0)
    if not _is_whole(nice) or not -20 <= nice <= 19:
        raise ConfigError("must be a whole number from -20 (highest priority) to 19", "process.nice")
    cpus = table.get("cpus")
    if cpus is None:
        return nice, None
    if not isinstance(cpus, list) or not cpus or not all(_is_whole(c) and c >= 0 for c in cpus):
        raise ConfigError("must be a non-empty list of CPU numbers, e.g. [0] or [2, 3]", "process.cpus")
    return nice, frozenset(cpus)


def _table(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError("must be a table", path)
    return value


def _unknown(table: Mapping[str, Any], allowed: tuple[str, ...] | frozenset[str], path: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"unknown key {key!r}", f"{path}.{key}")


def parse_sizing(value: Any, path: str) -> Sizing:
    table = _table(value, path)
    allowed = (
        "mode",
        "factor",
        "volume",
        "risk_percent",
        "notional",
        "source_equity",
        "source_balance",
        "fallback",
        "min",
        "max_volume",
        "max",
    )
    _unknown(table, allowed, path)
    mode_text = table.get("mode", "multiplier")
    try:
        mode = SizingMode(mode_text)
    except ValueError:
        choices = ", ".join(m.value for m in SizingMode)
        raise ConfigError(f"unknown sizing mode {mode_text!r}; use one of {choices}", f"{path}.mode") from None
    numbers = {
        key: _decimal(table[key], f"{path}.{key}")
        for key in ("factor", "volume", "risk_percent", "notional", "source_equity", "source_balance", "max_volume")
        if key in table
    }
    for key, number in numbers.items():
        if number <= 0:
            raise ConfigError("must be positive", f"{path}.{key}")
    required = {
        SizingMode.FIXED: "volume",
        SizingMode.RISK_PERCENT: "risk_percent",
        SizingMode.NOTIONAL: "notional",
        SizingMode.EQUITY_RATIO: "source_equity",
        SizingMode.BALANCE_RATIO: "source_balance",
    }.get(mode)
    if required and required not in numbers:
        raise ConfigError(f"sizing mode {mode.value} needs {required!r}", f"{path}.{required}")
    try:
        min_policy = MinPolicy(table.get("min", "skip"))
        max_policy = MaxPolicy(table.get("max", "clamp"))
    except ValueError as exc:
        raise ConfigError(f"{exc}; min is skip or bump, max is clamp or split", path) from None
    fallback = parse_sizing(table["fallback"], f"{path}.fallback") if "fallback" in table else None
    return Sizing(
        mode=mode,
        factor=numbers.get("factor", Decimal(1)),
        volume=numbers.get("volume"),
        risk_percent=numbers.get("risk_percent"),
        notional=numbers.get("notional"),
        source_equity=numbers.get("source_equity"),
        source_balance=numbers.get("source_balance"),
        fallback=fallback,
        min_policy=min_policy,
        max_volume=numbers.get("max_volume"),
        max_policy=max_policy,
    )


def parse_guards(table: Mapping[str, Any], path: str) -> Guards:
    symbols = table.get("allowed_symbols")
    sides = table.get("allowed_sides")
    if symbols is not None and not (isinstance(symbols, list) and all(isinstance(s, str) for s in symbols)):
        raise ConfigError("must be a list of symbols", f"{path}.allowed_symbols")
    parsed_sides: frozenset[Side] | None = None
    if sides is not None:
        try:
            parsed_sides = frozenset(Side(s) for s in sides)
        except (ValueError, TypeError):
            raise ConfigError('must be a list of "buy" and/or "sell"', f"{path}.allowed_sides") from None
    max_positions = table.get("max_open_positions")
    if max_positions is not None and (not isinstance(max_positions, int) or max_positions < 0):
        raise ConfigError("must be a whole number", f"{path}.max_open_positions")
    max_age = table.get("max_signal_age")
    deviation = table.get("max_price_deviation")
    reverse = table.get("reverse", False)
    if not isinstance(reverse, bool):
        raise ConfigError("must be true or false", f"{path}.reverse")
    return Guards(
        max_open_positions=max_positions,
        allowed_symbols=frozenset(s.upper() for s in symbols) if symbols is not None else None,
        allowed_sides=parsed_sides,
        max_signal_age=float(_decimal(max_age, f"{path}.max_signal_age")) if max_age is not None else None,
        max_price_deviation=_decimal(deviation, f"{path}.max_price_deviation") if deviation is not None else None,
        reverse=reverse,
    )


ROUTE_KEYS = (
    "source",
    "account",
    "sizing",
    "symbols",
    "allowed_symbols",
    "allowed_sides",
    "max_open_positions",
    "max_signal_age",
    "max_price_deviation",
    "reverse",
    "max_volume",
)


def _symbol_map(value: Any, path: str) -> dict[str, str]:
    table = _table(value, path)
    for key, mapped in table.items():
        if not isinstance(mapped, str):
            raise ConfigError("must map a symbol to the venue's symbol name", f"{path}.{key}")
    return {str(k).upper(): v for k, v in table.items()}


def load(path: Path | str, *, data_dir: Path | None = None) -> Config:
    """Read and validate a configuration file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return parse(text, path=path, data_dir=data_dir)


def parse(text: str, *, path: Path | None = None, data_dir: Path | None = None) -> Config:
    """Validate configuration text; errors name the key path and its line."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from None
    lines = _Lines(text)
    try:
        return _build(raw, path, data_dir)
    except ConfigError as exc:
        if exc.line is None and exc.path:
            raise ConfigError(exc.message, exc.path, lines.find(exc.path)) from None
        raise


def _build(raw: dict[str, Any], path: Path | None, data_dir: Path | None) -> Config:
    base = path.parent if path is not None else Path.cwd()
    _unknown(
        raw,
        (
            "server",
            "storage",
            "log",
            "sources",
            "accounts",
            "routes",
            "api_keys",
            "symbols",
            "data_dir",
            "router",
            "journal",
            "process",
        ),
        "",
    )
    journal = _table(raw.get("journal", {}), "journal")
    _unknown(journal, ("fsync", "fsync_interval"), "journal")
    fsync = journal.get("fsync", "interval")
    if fsync not in ("never", "interval", "always"):
        raise ConfigError('must be "never", "interval" or "always"', "journal.fsync")
    server = _table(raw.get("server", {}), "server")
    _unknown(server, ("webhook", "api", "tls_cert", "tls_key"), "server")
    webhook = _listen(server.get("webhook", "127.0.0.1:8080"), "server.webhook")
    webhook_tls = _tls(server, base)
    api = _listen(server.get("api", "127.0.0.1:8081"), "server.api")
    folder = data_dir or Path(raw.get("data_dir", "copier-data"))
    if not folder.is_absolute():
        folder = base / folder
    storage = _table(raw.get("storage", {}), "storage")
    _unknown(storage, ("url",), "storage")
    storage_url = storage.get("url", f"sqlite+aiosqlite:///{folder / 'copier.db'}")
    logs = _table(raw.get("log", {}), "log")
    _unknown(logs, ("mirror", "max_bytes", "backups"), "log")
    mirror = Path(logs.get("mirror", str(folder / "mirror.jsonl")))
    if not mirror.is_absolute():
        mirror = base / mirror
    router = _table(raw.get("router", {}), "router")
    _unknown(router, ("dedupe_window", "warm_interval", "warm_followers"), "router")
    warm_interval = float(_decimal(router.get("warm_interval", "0.002"), "router.warm_interval"))
    if warm_interval != 0 and not 0.0005 <= warm_interval <= 60:
        raise ConfigError("must be 0 (off) or between 0.0005 and 60 seconds", "router.warm_interval")
    warm_followers = router.get("warm_followers", 1)
    if not _is_whole(warm_followers) or warm_followers < 0:
        raise ConfigError("must be a whole number of followers, 0 or more", "router.warm_followers")
    nice, cpus = _process(_table(raw.get("process", {}), "process"))
    aliases = _symbol_map(raw.get("symbols", {}).get("aliases", {}), "symbols.aliases") if "symbols" in raw else {}

    sources: list[SourceConfig] = []
    for index, item in enumerate(_list(raw.get("sources", []), "sources")):
        where = f"sources[{index}]"
        table = _table(item, where)
        name = _name(table, where)
        kind = table.get("kind", "tradingview")
        if kind not in SOURCE_KINDS + MASTER_KINDS:
            choices = ", ".join(SOURCE_KINDS + MASTER_KINDS)
            raise ConfigError(f"unknown source kind {kind!r}; use one of {choices}", f"{where}.kind")
        if kind in MASTER_KINDS:
            settings = {k: v for k, v in table.items() if k not in ("name", "kind")}
            master = venue_settings(kind, name, settings, where, base, folder)
            sources.append(SourceConfig(name, kind, venue_config=master))
            continue
        token = resolve_secret(table["token"], f"{where}.token", base) if "token" in table else None
        ips = table.get("allow_ips")
        if ips is not None and not (isinstance(ips, list) and all(isinstance(i, str) for i in ips)):
            raise ConfigError("must be a list of addresses", f"{where}.allow_ips")
        options = {k: v for k, v in table.items() if k not in ("name", "kind", "token", "allow_ips")}
        if kind == "filedrop":
            from ingest.filedrop.watcher import FiledropConfig

            drop = FiledropConfig.from_mapping(name, options, base=base, where=where)
            sources.append(SourceConfig(name, kind, None, None, options, drop))
            continue
        if kind == "telegram":
            if token is None:
                raise ConfigError('a telegram source needs its bot token (token = "env:…")', f"{where}.token")
            chats = options.get("chats")
            if not isinstance(chats, list) or not chats:
                raise ConfigError("list the chats to copy from (ids or @usernames)", f"{where}.chats")
        sources.append(SourceConfig(name, kind, token, frozenset(ips) if ips is not None else None, options))
    _unique([s.name for s in sources], "sources")

    accounts: list[AccountConfig] = []
    for index, item in enumerate(_list(raw.get("accounts", []), "accounts")):
        where = f"accounts[{index}]"
        table = _table(item, where)
        name = _name(table, where)
        venue = table.get("venue")
        if not isinstance(venue, str):
            raise ConfigError("missing venue (paper, binance, okx or bybit)", f"{where}.venue")
        symbols = AccountSymbols(
            explicit=_symbol_map(table.get("symbols", {}), f"{where}.symbols"),
            prefix=str(table.get("symbol_prefix", "")),
            suffix=str(table.get("symbol_suffix", "")),
        )
        settings = {k: v for k, v in table.items() if k not in ACCOUNT_KEYS_COMMON}
        venue_config = venue_settings(venue, name, settings, where, base, folder)
        accounts.append(AccountConfig(name, venue, symbols, settings, venue_config))
    _unique([a.name for a in accounts], "accounts")

    source_names = {s.name for s in sources}
    account_names = {a.name for a in accounts}
    routes: list[Route] = []
    for index, item in enumerate(_list(raw.get("routes", []), "routes")):
        where = f"routes[{index}]"
        table = _table(item, where)
        _unknown(table, ROUTE_KEYS, where)
        source, account = table.get("source"), table.get("account")
        if source not in source_names:
            raise ConfigError(f"source {source!r} is not defined in [[sources]]", f"{where}.source")
        if account not in account_names:
            raise ConfigError(f"account {account!r} is not defined in [[accounts]]", f"{where}.account")
        sizing = parse_sizing(table.get("sizing", {}), f"{where}.sizing")
        if "max_volume" in table:
            sizing = replace(sizing, max_volume=_decimal(table["max_volume"], f"{where}.max_volume"))
        routes.append(
            Route(
                source=str(source),
                account=str(account),
                sizing=sizing,
                guards=parse_guards(table, where),
                symbols=_symbol_map(table.get("symbols", {}), f"{where}.symbols"),
            )
        )

    keys: list[ApiKeyConfig] = []
    for index, item in enumerate(_list(raw.get("api_keys", []), "api_keys")):
        where = f"api_keys[{index}]"
        table = _table(item, where)
        scopes = table.get("scopes", ["read"])
        if not isinstance(scopes, list) or not set(scopes) <= {"read", "trade", "admin"}:
            raise ConfigError('must be a list of "read", "trade", "admin"', f"{where}.scopes")
        keys.append(
            ApiKeyConfig(_name(table, where), resolve_secret(table.get("key"), f"{where}.key", base), frozenset(scopes))
        )

    return Config(
        path=path,
        data_dir=folder,
        webhook=webhook,
        api=api,
        storage_url=str(storage_url),
        mirror_path=mirror,
        mirror_max_bytes=int(logs.get("max_bytes", 64 * 1024 * 1024)),
        mirror_backups=int(logs.get("backups", 5)),
        dedupe_window=float(_decimal(router.get("dedupe_window", 600), "router.dedupe_window")),
        sources=tuple(sources),
        accounts=tuple(accounts),
        routes=tuple(routes),
        api_keys=tuple(keys),
        aliases=aliases,
        journal_fsync=fsync,
        journal_fsync_interval=float(_decimal(journal.get("fsync_interval", "0.05"), "journal.fsync_interval")),
        warm_interval=warm_interval,
        warm_followers=warm_followers,
        nice=nice,
        cpus=cpus,
        webhook_tls=webhook_tls,
    )


def _tls(server: Mapping[str, Any], base: Path) -> TlsFiles | None:
    """The webhook edge's certificate and key files (both or neither). They are loaded by
    ``copier check`` and at start, not here: other commands need not read a private key."""
    cert, key = server.get("tls_cert"), server.get("tls_key")
    if cert is None and key is None:
        return None
    paths: list[Path] = []
    for value, name in ((cert, "tls_cert"), (key, "tls_key")):
        if not isinstance(value, str) or not value:
            other = "tls_key" if name == "tls_cert" else "tls_cert"
            raise ConfigError(f"needs a file path (PEM), given with server.{other}", f"server.{name}")
        # Absolute, but links kept: certbot's live/ names are links that a renewal moves.
        paths.append((base / value).absolute())
    return TlsFiles(*paths)


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"must be an array of tables ([[{path}]])", path)
    return value


def _name(table: Mapping[str, Any], where: str) -> str:
    name = table.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", name):
        raise ConfigError("needs a name of letters, digits, '.', '_' or '-'", f"{where}.name")
    return name


def _unique(names: list[str], path: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"name {name!r} is used twice", path)
        seen.add(name)
