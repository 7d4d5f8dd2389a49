"""Venue credentials encrypted at rest with AES-256-GCM.

The master key comes from ``COPIER_MASTER_KEY`` (32 bytes, as 64 hex digits or base64) or, when
that is unset, from ``<data>/secrets/master.key``, created with mode 0600 on first use. The store
is one file, ``<data>/credentials.enc``: a 4-byte magic and version, a 12-byte random nonce, then
the AES-GCM ciphertext of a JSON object ``{account: {field: value}}``. Every write uses a fresh
nonce and replaces the file atomically; a wrong key or an altered byte fails authentication and
raises :class:`CredentialError`, never returns garbage.

Values leave this module only inside :class:`Credentials`, whose ``repr`` and ``str`` show field
names, never values.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENV_KEY = "COPIER_MASTER_KEY"
KEY_FILE = Path("secrets") / "master.key"
STORE_FILE = "credentials.enc"
FIELDS = ("api_key", "api_secret", "passphrase")
MAGIC = b"CPC\x01"
NONCE_BYTES = 12
# Binds the ciphertext to its purpose: a blob encrypted under the same key for anything else fails.
AAD = b"copier credentials v1"
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,100}$")
_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class CredentialError(Exception):
    """The credential store or the master key cannot be used; the message never holds a secret."""


def parse_key(text: str, origin: str = ENV_KEY) -> bytes:
    """A 32-byte key from 64 hex digits or base64 (standard or URL-safe); ``origin`` names it in errors."""
    value = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", value):
        return bytes.fromhex(value)
    padded = value + "=" * (-len(value) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(padded.encode())
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32:
            return raw
    raise CredentialError(f"{origin} must be 32 bytes given as 64 hex digits or base64")


def load_master_key(data_dir: Path | str, *, create: bool = True) -> bytes:
    """``COPIER_MASTER_KEY`` when set, else the data folder's key file (created on first use)."""
    env = os.environ.get(ENV_KEY)
    if env:
        return parse_key(env, ENV_KEY)
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        return parse_key(path.read_text(), str(path))
    if not create:
        raise CredentialError(f"no master key: set {ENV_KEY} or restore {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = AESGCM.generate_key(bit_length=256)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it first: use theirs.
        return parse_key(path.read_text(), str(path))
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


class Credentials(Mapping[str, str]):
    """One account's secrets. Index it for a value; printing it shows only the field names."""

    __slots__ = ("_account", "_values")

    def __init__(self, account: str, values: Mapping[str, str]) -> None:
        self._account = account
        self._values = dict(values)

    @property
    def account(self) -> str:
        return self._account

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Credentials({self._account!r}, fields={sorted(self._values)})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("credentials are not picklable")


class CredentialStore:
    """Per-account secrets in one AES-GCM encrypted file."""

    def __init__(self, path: Path | str, key: bytes) -> None:
        if len(key) != 32:
            raise CredentialError("the master key must be 32 bytes")
        self.path = Path(path)
        self._aead = AESGCM(key)

    @classmethod
    def for_data_dir(cls, data_dir: Path | str) -> CredentialStore:
        """The data folder's store, with the master key from the environment or the key file."""
        return cls(Path(data_dir) / STORE_FILE, load_master_key(data_dir))

    def __repr__(self) -> str:
        return f"CredentialStore({str(self.path)!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a credential store is not picklable")

    # -- file -------------------------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        if len(blob) < len(MAGIC) + NONCE_BYTES + 16 or not blob.startswith(MAGIC):
            raise CredentialError(f"{self.path} is not a Copier credential store (or is truncated)")
        nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            plain = self._aead.decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], AAD)
        except InvalidTag:
            raise CredentialError(f"cannot decrypt {self.path}: wrong master key, or the file was altered") from None
        data = orjson.loads(plain)
        if not isinstance(data, dict):
            raise CredentialError(f"{self.path} holds no account table")
        return data

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        nonce = os.urandom(NONCE_BYTES)
        blob = MAGIC + nonce + self._aead.encrypt(nonce, orjson.dumps(data), AAD)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # -- API --------------------------------------------------------------------------------

    def put(self, account: str, secrets: Mapping[str, str]) -> None:
        """Store (replace) ``account``'s secrets; empty values are left out."""
        if not _ACCOUNT_RE.match(account):
            raise CredentialError(f"invalid account name {account!r}")
        values: dict[str, str] = {}
        for name, value in secrets.items():
            if not _FIELD_RE.match(name):
                raise CredentialError(f"invalid credential field name {name!r}")
            if not isinstance(value, str):
                raise CredentialError(f"credential field {name} must be text")
            if value:
                values[name] = value
        if not values:
            raise CredentialError(f"no credentials given for account {account!r}")
        data = self._load()
        data[account] = values
        self._save(data)

    def get(self, account: str) -> Credentials | None:
        """``account``'s secrets, or ``None`` when it has none stored."""
        values = self._load().get(account)
        return Credentials(account, values) if values is not None else None

    def remove(self, account: str) -> bool:
        """Delete ``account``'s secrets; ``False`` when there were none."""
        data = self._load()
        if account not in data:
            return False
        del data[account]
        self._save(data)
        return True

    def list(self) -> list[str]:
        """The account names that have secrets stored (never the secrets)."""
        return sorted(self._load())
