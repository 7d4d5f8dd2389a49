"""TLS for the webhook edge: a server context from a certificate chain and its private key, reloaded
when the files change on disk (a renewal by certbot or acme.sh needs no restart).

TradingView posts alerts only to ports 80 and 443, so a copier that takes them directly on 443
terminates TLS itself. The context allows TLS 1.2 and 1.3 and offers ``http/1.1`` by ALPN (the
edge speaks HTTP/1.1 only). A reload that fails (a half-written renewal, a key that does not
match) keeps the certificate in use and is logged; the next check tries again.
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


def _new_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


def _load(context: ssl.SSLContext, files: TlsFiles) -> None:
    """Load the chain and key into ``context``; a :class:`ConfigError` that names the problem and
    never the key's content."""
    try:
        context.load_cert_chain(files.cert, files.key)
    except FileNotFoundError as exc:
        raise ConfigError(f"no such file: {exc.filename}", "server.tls_cert") from None
    except PermissionError as exc:
        raise ConfigError(f"cannot read {exc.filename}: permission denied", "server.tls_cert") from None
    except ssl.SSLError as exc:
        reason = exc.reason or "not a PEM certificate chain and matching private key"
        raise ConfigError(
            f"{files.cert} and {files.key} are not a usable certificate chain and private key ({reason})",
            "server.tls_cert",
        ) from None


class ServerTls:
    """The edge's server-side TLS context, and the check that reloads it when its files change."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        context = _new_context()
        _load(context, files)
        self.context = context
        self._stamp = _stamp(files)

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
            # Tried on a scratch context first: a key that does not match the chain would leave
            # the live context with neither.
            _load(_new_context(), self.files)
            _load(self.context, self.files)
        except ConfigError as exc:
            log.warning("webhook TLS: reload failed, the current certificate stays: %s", exc.message)
            return False
        self._stamp = stamp
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
