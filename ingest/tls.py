"""TLS for the webhook edge: a server context from a certificate chain and its private key, reloaded
when the files change on disk (a renewal by certbot or acme.sh needs no restart).

TradingView posts alerts only to ports 80 and 443, so a copier that takes them directly on 443
terminates TLS itself. The context allows TLS 1.2 and 1.3 and offers ``http/1.1`` by ALPN (the
edge speaks HTTP/1.1 only). A reload builds a new context; the listening one hands each new
handshake to the newest from its server-name callback, which OpenSSL runs on every handshake, with
or without SNI. A context is never loaded twice: OpenSSL keeps one certificate per key type in a
context, so loading an RSA renewal into an EC one would leave the old certificate served, and a
key read apart from its chain could pair the new certificate with the old key. A reload that fails
(a half-written renewal, a key that does not match) keeps the certificate in use and is logged;
the next check tries again.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

log = logging.getLogger(__name__)

CHECK_INTERVAL = 60.0
"""Seconds between two looks at the certificate files."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the edge's certificate chain (PEM, leaf first) and its private key (PEM) are."""

    cert: Path
    key: Path


def _stamp(files: TlsFiles) -> tuple[int, int, int, int]:
    cert, key = files.cert.stat(), files.key.stat()
    return cert.st_mtime_ns, cert.st_size, key.st_mtime_ns, key.st_size


def _no_password() -> bytes:
    raise ConfigError("the private key is encrypted; give it unencrypted (as certbot writes it)", "server.tls_key")


def load_context(files: TlsFiles) -> ssl.SSLContext:
    """A server context with the chain and key of ``files``; a :class:`ConfigError` that names
    the key of the file at fault and never the key's content."""
    for path, name in ((files.cert, "server.tls_cert"), (files.key, "server.tls_key")):
        try:
            with path.open("rb"):
                pass
        except FileNotFoundError:
            raise ConfigError(f"no such file: {path}", name) from None
        except PermissionError:
            raise ConfigError(f"cannot read {path}: permission denied", name) from None
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", name) from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(files.cert, files.key, password=_no_password)
    except ssl.SSLError as exc:
        reason = exc.reason or "not a PEM certificate chain and matching private key"
        raise ConfigError(
            f"{files.cert} and {files.key} are not a usable certificate chain and private key ({reason})",
            "server.tls_cert",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {files.cert} or {files.key}: {exc.strerror or exc}", "server.tls_cert"
        ) from None
    return context


class ServerTls:
    """The edge's server-side TLS: the listening context, and the newest certificate it serves."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._stamp = _stamp(files)
        self.context = load_context(files)
        self._current = self.context
        self.context.sni_callback = self._pick

    def _pick(self, connection: ssl.SSLObject | ssl.SSLSocket, _name: str | None, _context: ssl.SSLContext) -> None:
        if self._current is not self.context:
            connection.context = self._current

    def reload_if_changed(self) -> bool:
        """Load the files again when they changed since the last load; True when a new certificate
        is in use. Connections already open keep theirs; new handshakes get the new one."""
        try:
            stamp = _stamp(self.files)
        except OSError as exc:
            log.warning("webhook TLS: certificate files not readable (%s); the current certificate stays", exc)
            return False
        if stamp == self._stamp:
            return False
        try:
            fresh = load_context(self.files)
        except ConfigError as exc:
            log.warning("webhook TLS: reload failed, the current certificate stays: %s", exc)
            return False
        self._stamp, self._current = stamp, fresh
        log.info("webhook TLS: certificate %s loaded again", self.files.cert)
        return True


async def keep_fresh(tls: ServerTls, interval: float = CHECK_INTERVAL) -> None:
    """Look at the certificate files every ``interval`` seconds, reloading them when they change;
    runs until canceled."""
    while True:
        await asyncio.sleep(interval)
        try:
            tls.reload_if_changed()
        except Exception:
            log.exception("webhook TLS: certificate check failed")
