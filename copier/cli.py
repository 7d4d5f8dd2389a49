"""The ``copier`` command: ``run`` the daemon, ``send`` a manual signal to a running one."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from copier import config as config_mod
from copier.defaults import DEFAULT_DATA_DIR, admin_key, default_config_text
from core.errors import ConfigError
from ingest.tls import load_context

SEND_ACTIONS = {
    "buy": ("open", "buy"),
    "sell": ("open", "sell"),
    "close": ("close", None),
    "close_long": ("close", "buy"),
    "close_short": ("close", "sell"),
    "close_part": ("close_part", None),
    "close_all": ("close_all", None),
    "modify": ("modify", None),
    "cancel": ("cancel", None),
    "reverse_buy": ("reverse", "buy"),
    "reverse_sell": ("reverse", "sell"),
    "target": ("target", None),
}


def load_config(path: str | None) -> config_mod.Config:
    if path:
        return config_mod.load(path)
    text = default_config_text(DEFAULT_DATA_DIR)
    return config_mod.parse(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="copier", description="Low-latency trade copier.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the daemon (the embedded default without --config)")
    run.add_argument("--config", help="TOML configuration file")
    run.add_argument("--log-level", default=os.environ.get("COPIER_LOG_LEVEL", "INFO"))

    check = sub.add_parser("check", help="validate a configuration file and exit")
    check.add_argument("--config", help="TOML configuration file")

    backup = sub.add_parser("backup", help="write a consistent snapshot of store, journal and credentials")
    backup.add_argument("file")
    backup.add_argument("--config", help="TOML configuration file")
    backup.add_argument("--include-key", action="store_true", help="also put the master key in the archive")

    restore = sub.add_parser("restore", help="unpack a backup into the data folder (daemon stopped)")
    restore.add_argument("file")
    restore.add_argument("--config", help="TOML configuration file")
    restore.add_argument("--force", action="store_true", help="replace a data folder that is not empty")

    from copier import accounts_cli

    accounts_cli.register(sub)

    send = sub.add_parser("send", help="send a manual signal to the running daemon")
    send.add_argument("action", choices=sorted(SEND_ACTIONS))
    send.add_argument("symbol", nargs="?")
    send.add_argument("volume", nargs="?", help="lots (or a fraction 0..1 for close_part, the size for target)")
    send.add_argument("--sl")
    send.add_argument("--tp", action="append", help="repeat for several targets")
    send.add_argument("--price")
    send.add_argument("--type", dest="order_type", choices=("market", "limit", "stop"), default="market")
    send.add_argument("--percent", help="close this percentage of the position")
    send.add_argument("--side", choices=("buy", "sell"), help="which side a close or modify acts on")
    send.add_argument("--id", help="your id for the signal (a repeat is not traded twice)")
    send.add_argument("--source", help="the configured source to send as (default: the first)")
    send.add_argument("--risk", help="size by this percent of each follower's equity")
    send.add_argument("--config", help="TOML configuration file (to find the API address)")
    send.add_argument("--api", help="control plane base URL, e.g. http://127.0.0.1:8081")
    send.add_argument("--key", help="API key (default: COPIER_API_KEY or the data folder's admin key)")
    return parser


def build_send_body(args: argparse.Namespace) -> dict[str, Any]:
    action, side = SEND_ACTIONS[args.action]
    body: dict[str, Any] = {"action": action}
    if args.symbol:
        body["symbol"] = args.symbol
    side = side or args.side
    if side:
        body["side"] = side
    if args.volume is not None:
        body["volume"] = args.volume
        if action == "close_part":
            body["volume_kind"] = "fraction"
    if args.percent is not None:
        body["action"] = "close_part"
        body["volume"] = str(float(args.percent) / 100)
        body["volume_kind"] = "fraction"
    if args.risk is not None:
        body["volume"] = args.risk
        body["volume_kind"] = "risk_percent"
    for key in ("sl", "price", "id", "source"):
        value = getattr(args, key)
        if value is not None:
            body[key] = value
    if args.tp:
        body["tp"] = args.tp if len(args.tp) > 1 else args.tp[0]
    if args.order_type != "market":
        body["order_type"] = args.order_type
    return body


def send(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    base = args.api or f"http://{cfg.api.host}:{cfg.api.port}"
    key = args.key or admin_key(cfg.data_dir)
    body = build_send_body(args)
    request = urllib.request.Request(
        f"{base.rstrip('/')}/api/v1/signals",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as exc:
        print(f"refused ({exc.code}): {exc.read().decode()}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"cannot reach the daemon at {base}: {exc.reason}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            logging.basicConfig(
                level=args.log_level.upper(),
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                stream=sys.stderr,
            )
            cfg = load_config(args.config)
            from copier.daemon import run

            run(cfg)
            return 0
        if args.command == "accounts":
            result: int = args.func(args)
            return result
        if args.command in ("backup", "restore"):
            from copier.store.backup import BackupError, backup, restore

            cfg = load_config(args.config)
            try:
                if args.command == "backup":
                    manifest = backup(cfg.data_dir, cfg.storage_url, args.file, include_key=args.include_key)
                else:
                    manifest = restore(args.file, cfg.data_dir, force=args.force)
            except BackupError as exc:
                print(f"{args.command} failed: {exc}", file=sys.stderr)
                return 1
            print(json.dumps(manifest, indent=2, default=str))
            return 0
        if args.command == "check":
            cfg = load_config(args.config)
            if cfg.webhook_tls is not None:
                load_context(cfg.webhook_tls)
            print(f"ok: {len(cfg.sources)} sources, {len(cfg.accounts)} accounts, {len(cfg.routes)} routes")
            return 0
        return send(args)
    except ConfigError as exc:
        where = f"{args.config}: " if getattr(args, "config", None) else ""
        print(f"configuration error: {where}{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
