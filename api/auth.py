"""Bearer API keys with scopes. Keys are held only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

SCOPES = ("read", "trade", "admin")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    digest: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """``admin`` implies ``trade`` implies ``read``."""
        if "admin" in self.scopes:
            return True
        if scope == "read":
            return bool(self.scopes & {"read", "trade"})
        return scope in self.scopes


class KeyRing:
    """Looks a presented key up by its digest, in constant time per stored key."""

    def __init__(self, keys: Iterable[tuple[str, str, Iterable[str]]] = ()) -> None:
        self._keys: list[ApiKey] = []
        for name, key, scopes in keys:
            self.add(name, key, scopes)

    def add(self, name: str, key: str, scopes: Iterable[str]) -> None:
        self._keys.append(ApiKey(name, digest(key), frozenset(scopes)))

    def find(self, presented: str) -> ApiKey | None:
        wanted = digest(presented)
        found = None
        for key in self._keys:
            if hmac.compare_digest(key.digest, wanted):
                found = key
        return found

    def __len__(self) -> int:
        return len(self._keys)
