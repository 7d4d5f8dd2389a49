"""The webhook edge over TLS: alerts posted over HTTPS, the certificate checked when the
configuration is read, and a renewed certificate picked up without a restart."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from cryptography import x509

from benchmarks.tradingview_corpus import TOKEN, edge_harness
from copier.config import load
from core.errors import ConfigError
from ingest.tls import ServerTls, TlsFiles
from tests.certs import self_signed

BODY = b'{"action": "buy", "symbol": "EURUSD", "volume": 0.1}'


def trusting(*files: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context()
    for item in files:
        context.load_verify_locations(item.cert)
    return context


async def test_alerts_over_https_are_accepted_and_plain_http_is_not_read(tmp_path: Path) -> None:
    files, _ = self_signed(tmp_path / "tls", "copier-edge")
    tls = ServerTls(files)
    async with edge_harness(tmp_path, tls=tls.context, trust=trusting(files)) as edge:
        assert edge.url.startswith("https://")
        out = await edge.post(BODY)
        assert out.status == 200 and out.answer and out.answer["followers"] == 2, out
        again = await edge.post(BODY)  # the same alert again, on the kept-alive TLS connection
        assert again.status == 200 and again.answer and again.answer["duplicate"]
        # Plain HTTP to the TLS port is no TLS handshake: no answer, nothing read as an alert.
        with pytest.raises(aiohttp.ClientError):
            async with edge.session.post(edge.url.replace("https://", "http://") + f"?token={TOKEN}", data=BODY):
                pass
        await edge.router.drain()
        assert len(await edge.connectors["a"].positions()) == 1


@pytest.mark.parametrize("broken", ["only-cert", "mismatch", "missing"])
def test_the_configuration_check_names_what_is_wrong_with_the_certificate(tmp_path: Path, broken: str) -> None:
    files, _ = self_signed(tmp_path / "one", "one")
    other, _ = self_signed(tmp_path / "two", "two")
    lines = {
        "only-cert": f'tls_cert = "{files.cert}"',
        "mismatch": f'tls_cert = "{files.cert}"\ntls_key = "{other.key}"',
        "missing": f'tls_cert = "{tmp_path / "nowhere.pem"}"\ntls_key = "{files.key}"',
    }[broken]
    path = tmp_path / "copier.toml"
    path.write_text(f'[server]\nwebhook = "127.0.0.1:0"\n{lines}\n')
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert "server.tls" in message
    expected = {"only-cert": "server.tls_key", "mismatch": "not a usable", "missing": "no such file"}[broken]
    assert expected in message
    assert "PRIVATE KEY" not in message


async def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(tmp_path: Path) -> None:
    files, first_serial = self_signed(tmp_path / "tls", "before")
    tls = ServerTls(files)
    assert not tls.reload_if_changed()  # nothing changed
    async with edge_harness(tmp_path, tls=tls.context, trust=trusting(files)) as edge:
        assert await served_serial(edge.url) == first_serial
        # A renewal that writes a key not matching its chain is refused; the old certificate stays.
        half, _ = self_signed(tmp_path / "half", "half")
        files.key.write_bytes(half.key.read_bytes())
        assert not tls.reload_if_changed()
        assert await served_serial(edge.url) == first_serial
        _, second_serial = self_signed(tmp_path / "tls", "after")
        assert tls.reload_if_changed()
        assert await served_serial(edge.url) == second_serial != first_serial


async def served_serial(url: str) -> int:
    """The serial of the certificate the edge presents to a new connection."""
    parts = urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        await writer.wait_closed()
    return x509.load_der_x509_certificate(der).serial_number
