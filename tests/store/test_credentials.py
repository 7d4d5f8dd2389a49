"""Encrypted credentials: round trip, wrong key, tampering, file modes, nothing secret printed."""

from __future__ import annotations

import argparse
import base64
import io
import os
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from copier import accounts_cli
from copier.credentials import (
    ENV_KEY,
    KEY_FILE,
    CredentialError,
    Credentials,
    CredentialStore,
    load_master_key,
    parse_key,
)

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"api_key": "AKIA-live-7d1f0c", "api_secret": "s3cr3t/with+chars==", "passphrase": "correct horse"}


def _get(store: CredentialStore, account: str) -> Credentials:
    found = store.get(account)
    assert found is not None, account
    return found


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_list_and_remove(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.enc", os.urandom(32))
    assert store.list() == [] and store.get("binance-1") is None
    store.put("binance-1", SECRETS)
    store.put("okx-main", {"api_key": "k2", "api_secret": "s2", "passphrase": ""})
    creds = store.get("binance-1")
    assert creds is not None and dict(creds) == SECRETS and creds["api_secret"] == SECRETS["api_secret"]
    assert dict(store.get("okx-main") or {}) == {"api_key": "k2", "api_secret": "s2"}
    assert store.list() == ["binance-1", "okx-main"]
    store.put("okx-main", {"api_key": "k3", "api_secret": "s3"})
    assert _get(store, "okx-main")["api_key"] == "k3"
    assert store.remove("okx-main") is True and store.remove("okx-main") is False
    assert store.list() == ["binance-1"]
    assert _mode(store.path) == 0o600


def test_ciphertext_hides_secrets_and_uses_a_fresh_nonce(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.enc", os.urandom(32))
    store.put("binance-1", SECRETS)
    first = store.path.read_bytes()
    store.put("binance-1", SECRETS)
    second = store.path.read_bytes()
    assert first != second
    for blob in (first, second):
        for value in SECRETS.values():
            assert value.encode() not in blob
        assert b"binance-1" not in blob


def test_wrong_key_and_tampering_fail_clearly(tmp_path: Path) -> None:
    path = tmp_path / "credentials.enc"
    CredentialStore(path, os.urandom(32)).put("binance-1", SECRETS)
    with pytest.raises(CredentialError, match="wrong master key, or the file was altered"):
        CredentialStore(path, os.urandom(32)).get("binance-1")
    # A wrong key cannot overwrite the file either.
    before = path.read_bytes()
    with pytest.raises(CredentialError):
        CredentialStore(path, os.urandom(32)).put("other", {"api_key": "x"})
    assert path.read_bytes() == before

    key = os.urandom(32)
    path = tmp_path / "second.enc"
    CredentialStore(path, key).put("binance-1", SECRETS)
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(CredentialError, match="altered"):
        CredentialStore(path, key).list()
    path.write_bytes(b"CPC\x01short")
    with pytest.raises(CredentialError, match="truncated"):
        CredentialStore(path, key).list()
    with pytest.raises(CredentialError, match="32 bytes"):
        CredentialStore(path, b"short")


def test_key_file_is_created_private_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    key = load_master_key(tmp_path)
    key_file = tmp_path / KEY_FILE
    assert len(key) == 32 and _mode(key_file) == 0o600 and _mode(key_file.parent) == 0o700
    assert load_master_key(tmp_path) == key
    store = CredentialStore.for_data_dir(tmp_path)
    store.put("a", {"api_key": "x"})
    assert _get(CredentialStore.for_data_dir(tmp_path), "a")["api_key"] == "x"
    with pytest.raises(CredentialError, match="no master key"):
        load_master_key(tmp_path / "elsewhere", create=False)


def test_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = os.urandom(32)
    for text in (raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        monkeypatch.setenv(ENV_KEY, text)
        assert load_master_key(tmp_path) == raw
    assert not (tmp_path / KEY_FILE).exists()
    monkeypatch.setenv(ENV_KEY, "not-a-key-value-42")
    with pytest.raises(CredentialError) as caught:
        load_master_key(tmp_path)
    assert ENV_KEY in str(caught.value) and "not-a-key-value-42" not in str(caught.value)
    with pytest.raises(CredentialError):
        parse_key(base64.b64encode(os.urandom(16)).decode())


def test_nothing_secret_in_repr_or_str(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.enc", os.urandom(32))
    store.put("binance-1", SECRETS)
    creds = store.get("binance-1")
    shown = " ".join([repr(creds), str(creds), f"{creds}", repr(store), str(store), repr(store.list())])
    for value in SECRETS.values():
        assert value not in shown
    assert "api_secret" in repr(creds) and "binance-1" in repr(creds)


def _parse(data_dir: Path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="copier")
    accounts_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["accounts", *argv, "--data-dir", str(data_dir)])


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_accounts_commands_never_print_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    args = _parse(tmp_path, "add", "binance-1")
    json_in = _Pipe(orjson.dumps({"api_key": SECRETS["api_key"], "api_secret": SECRETS["api_secret"]}).decode())
    assert args.func(args, stdin=json_in) == 0
    args = _parse(tmp_path, "add", "okx-main")
    lines_in = _Pipe(f"api_key = k2\napi_secret=s2\npassphrase = {SECRETS['passphrase']}\n")
    assert args.func(args, stdin=lines_in) == 0
    args = _parse(tmp_path, "list")
    assert args.func(args) == 0
    listed = capsys.readouterr().out
    assert "binance-1\tapi_key, api_secret" in listed and "okx-main\tapi_key, api_secret, passphrase" in listed

    store = CredentialStore.for_data_dir(tmp_path)
    assert dict(store.get("binance-1") or {}) == {k: SECRETS[k] for k in ("api_key", "api_secret")}
    assert _get(store, "okx-main")["passphrase"] == SECRETS["passphrase"]

    args = _parse(tmp_path, "remove", "okx-main")
    assert args.func(args) == 0
    assert args.func(args) == 1
    args = _parse(tmp_path, "add", "empty")
    assert args.func(args, stdin=_Pipe("")) == 1
    out = capsys.readouterr()
    for value in [*SECRETS.values(), "k2", "s2"]:
        assert value not in out.out + out.err
    assert store.list() == ["binance-1"]


def _read_until(fd: int, marker: bytes, transcript: bytearray, start: int, timeout: float = 10.0) -> int:
    """Read the terminal until ``marker`` appears after ``start``; returns the offset after it."""
    deadline = time.monotonic() + timeout
    while (found := transcript.find(marker, start)) < 0:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            raise AssertionError(f"no {marker!r} on the terminal; got {bytes(transcript)!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed its side
            chunk = b""
        if not chunk:
            raise AssertionError(f"terminal closed before {marker!r}; got {bytes(transcript)!r}")
        transcript += chunk
    return found + len(marker)


CLI_PROBE = (
    "import argparse, sys; from copier import accounts_cli; p = argparse.ArgumentParser(); "
    "accounts_cli.register(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
)


def test_accounts_add_prompts_without_echo_on_a_terminal(tmp_path: Path) -> None:
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if k != ENV_KEY}
    # A new session has no controlling terminal, so getpass talks to the pseudo-terminal on stdin.
    child = subprocess.Popen(
        [sys.executable, "-c", CLI_PROBE, "accounts", "add", "bybit-1", "--data-dir", str(tmp_path)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    os.close(slave)
    transcript = bytearray()
    offset = 0
    try:
        for prompt, answer in (
            ("api_key", SECRETS["api_key"]),
            ("api_secret", SECRETS["api_secret"]),
            ("passphrase", ""),
        ):
            offset = _read_until(master, prompt.encode(), transcript, offset)
            # getpass switches echo off before it writes the prompt, so the answer is not echoed.
            os.write(master, answer.encode() + b"\n")
        _read_until(master, b"stored credentials", transcript, offset)
        assert child.wait(timeout=10) == 0
    finally:
        child.kill()
        child.wait()
        os.close(master)
    assert b"(api_key, api_secret)" in transcript
    for value in SECRETS.values():
        assert value.encode() not in transcript
    assert dict(CredentialStore.for_data_dir(tmp_path).get("bybit-1") or {}) == {
        "api_key": SECRETS["api_key"],
        "api_secret": SECRETS["api_secret"],
    }
