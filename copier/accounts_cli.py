"""``copier accounts add|list|remove``: manage the encrypted venue credentials.

Secrets are read from standard input when it is not a terminal (a JSON object, or ``name=value``
lines), otherwise asked for with hidden prompts. Nothing secret is ever printed: the commands
report account names and field names only.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import tomllib
from pathlib import Path
from typing import TextIO

import orjson

from copier.credentials import FIELDS, CredentialError, CredentialStore
from copier.defaults import DEFAULT_DATA_DIR


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``accounts`` command and its subcommands; each sets ``args.func``."""
    accounts = sub.add_parser("accounts", help="manage encrypted venue credentials")
    accounts_sub = accounts.add_subparsers(dest="accounts_command", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--config", help="TOML configuration file (to find the data folder)")
        parser.add_argument("--data-dir", type=Path, help="data folder (default: the configuration's)")

    add_p = accounts_sub.add_parser("add", help="store (or replace) an account's API key, secret and passphrase")
    add_p.add_argument("account")
    add_p.add_argument(
        "--field", action="append", default=[], help="ask for this extra field too (repeatable; prompts only)"
    )
    common(add_p)
    add_p.set_defaults(func=add)

    list_p = accounts_sub.add_parser("list", help="list the accounts that have credentials stored")
    common(list_p)
    list_p.set_defaults(func=list_)

    remove_p = accounts_sub.add_parser("remove", help="delete an account's stored credentials")
    remove_p.add_argument("account")
    common(remove_p)
    remove_p.set_defaults(func=remove)
    return accounts


def data_dir(args: argparse.Namespace) -> Path:
    """``--data-dir``, else the configuration's ``data_dir``, else the embedded default's."""
    explicit = getattr(args, "data_dir", None)
    if explicit:
        return Path(explicit)
    config = getattr(args, "config", None)
    if config:
        # Only the data folder is needed: no secret references are resolved for this.
        with open(config, "rb") as handle:
            raw = tomllib.load(handle)
        return Path(raw.get("data_dir", DEFAULT_DATA_DIR))
    return DEFAULT_DATA_DIR


def _store(args: argparse.Namespace) -> CredentialStore:
    return CredentialStore.for_data_dir(data_dir(args))


def read_secrets(
    stream: TextIO, fields: tuple[str, ...] = FIELDS, *, interactive: bool | None = None
) -> dict[str, str]:
    """The secrets to store: parsed from ``stream``, or prompted for (hidden) when it is a terminal."""
    if interactive is None:
        interactive = stream.isatty()
    if interactive:
        values = {}
        for name in fields:
            optional = " (optional, Enter to skip)" if name == "passphrase" else ""
            values[name] = getpass.getpass(f"{name}{optional}: ")
        return {k: v for k, v in values.items() if v}
    text = stream.read().strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise CredentialError("standard input is not a valid JSON object") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise CredentialError("standard input must be a JSON object of text values")
        return {str(k): v for k, v in data.items() if v}
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise CredentialError(f"standard input line {number}: expected name=value")
        if value.strip():
            values[name.strip()] = value.strip()
    return values


def add(args: argparse.Namespace, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Store ``args.account``'s secrets read from standard input or prompts."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    fields = FIELDS + tuple(f for f in getattr(args, "field", ()) if f not in FIELDS)
    try:
        values = read_secrets(stdin, fields)
        if not values:
            print("no credentials given; nothing stored", file=sys.stderr)
            return 1
        store = _store(args)
        replaced = store.get(args.account) is not None
        store.put(args.account, values)
    except CredentialError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verb = "replaced" if replaced else "stored"
    print(f"{verb} credentials for {args.account} ({', '.join(sorted(values))}) in {store.path}", file=out)
    return 0


def list_(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the names of the accounts with stored credentials and their field names."""
    out = out or sys.stdout
    try:
        store = _store(args)
        for name in store.list():
            creds = store.get(name)
            fields = ", ".join(sorted(creds)) if creds else ""
            print(f"{name}\t{fields}", file=out)
    except CredentialError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def remove(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Delete ``args.account``'s stored credentials."""
    out = out or sys.stdout
    try:
        removed = _store(args).remove(args.account)
    except CredentialError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not removed:
        print(f"no credentials stored for {args.account}", file=sys.stderr)
        return 1
    print(f"removed credentials for {args.account}", file=out)
    return 0
