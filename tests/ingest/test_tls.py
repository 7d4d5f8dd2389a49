"""The webhook edge over TLS: alerts posted over HTTPS, the certificate checked when the
configuration is read, and a renewed certificate picked up without a restart."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from benchmarks.tradingview_corpus import TOKEN, edge_harness
from copier.cli import main
from copier.config import load
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


@pytest.mark.parametrize("broken", ["only-cert", "mismatch", "missing-cert", "missing-key", "encrypted"])
def test_copier_check_names_what_is_wrong_with_the_certificate(
    tmp_path: Path, broken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    files, _ = self_signed(tmp_path / "one", "one")
    other, _ = self_signed(tmp_path / "two", "two")
    if broken == "encrypted":
        key = serialization.load_pem_private_key(files.key.read_bytes(), None)
        encryption = serialization.BestAvailableEncryption(b"pass")
        files.key.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        )
    nowhere = tmp_path / "nowhere.pem"
    lines = {
        "only-cert": f'tls_cert = "{files.cert}"',
        "mismatch": f'tls_cert = "{files.cert}"\ntls_key = "{other.key}"',
        "missing-cert": f'tls_cert = "{nowhere}"\ntls_key = "{files.key}"',
        "missing-key": f'tls_cert = "{files.cert}"\ntls_key = "{nowhere}"',
        "encrypted": f'tls_cert = "{files.cert}"\ntls_key = "{files.key}"',
    }[broken]
    path = tmp_path / "copier.toml"
    path.write_text(f'[server]\nwebhook = "127.0.0.1:0"\n{lines}\n')
    assert main(["check", "--config", str(path)]) == 2
    message = capsys.readouterr().err
    expected = {
        "only-cert": ("server.tls_key", "needs a file path"),
        "mismatch": ("server.tls_cert", "not a usable certificate chain and private key"),
        "missing-cert": ("server.tls_cert", f"no such file: {nowhere}"),
        "missing-key": ("server.tls_key", f"no such file: {nowhere}"),
        "encrypted": ("server.tls_key", "the private key is encrypted"),
    }[broken]
    assert all(part in message for part in expected), message
    assert "PRIVATE KEY" not in message


def test_other_commands_read_the_configuration_without_the_key(tmp_path: Path) -> None:
    path = tmp_path / "copier.toml"
    path.write_text('[server]\ntls_cert = "certs/fullchain.pem"\ntls_key = "certs/privkey.pem"\n')
    config = load(path)  # the files are not there: only `copier check` and the daemon load them
    assert config.webhook_tls == TlsFiles(tmp_path / "certs/fullchain.pem", tmp_path / "certs/privkey.pem")


async def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files, first_serial = self_signed(tmp_path / "tls", "before")
    tls = ServerTls(files)
    assert not tls.reload_if_changed()  # nothing changed
    async with edge_harness(tmp_path, tls=tls.context, trust=trusting(files)) as edge:
        assert await served_serial(edge.url) == first_serial
        # A renewal caught half way: the new chain is written, its key not yet. Refused, logged,
        # and the certificate in use stays.
        kept_key = files.key.read_bytes()
        self_signed(tmp_path / "tls", "half")
        files.key.write_bytes(kept_key)
        with caplog.at_level(logging.WARNING, logger="ingest.tls"):
            assert not tls.reload_if_changed()
        assert "reload failed, the current certificate stays" in caplog.text
        assert await served_serial(edge.url) == first_serial
        # The renewal completes with another key type (EC to RSA): the new certificate is served.
        _, second_serial = self_signed(tmp_path / "tls", "after", rsa_key=True)
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
