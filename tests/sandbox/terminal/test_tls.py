"""``wss://`` with the terminal's generated certificate."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509

from cloverpay.remotepay.protocol import FinishOk
from cloverpay.sandbox import Sandbox
from cloverpay.sandbox.terminal import TerminalServer, generate_certificate

from .pos import MiniPos, sale

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_wss_with_the_generated_ca_trusted(sandbox: Sandbox) -> None:
    async with TerminalServer(sandbox, tls=True) as server:
        assert server.url.startswith("wss://127.0.0.1:")
        assert server.certificate is not None
        ctx = ssl.create_default_context(cadata=server.certificate.ca_pem)  # hostname checked
        pos = await MiniPos.connect(server.url, ctx)
        await pos.ready()
        await pos.send(sale(1000, "wss-1"))
        finish = await pos.until(FinishOk)
        assert finish.payment is not None
        await pos.close()


async def test_wss_refused_without_trusting_the_ca(sandbox: Sandbox) -> None:
    async with TerminalServer(sandbox, tls=True) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            await MiniPos.connect(server.url, ssl.create_default_context())


def test_certificate_names_and_pem_files(tmp_path: Path) -> None:
    cert = generate_certificate(["192.0.2.10", "terminal.local"])
    leaf = x509.load_pem_x509_certificate(cert.cert_pem.encode())
    ca = x509.load_pem_x509_certificate(cert.ca_pem.encode())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["192.0.2.10"]
    assert sans.get_values_for_type(x509.DNSName) == ["terminal.local"]
    assert leaf.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    paths = cert.write(tmp_path)
    assert paths["ca"].read_text() == cert.ca_pem
    assert paths["key"].stat().st_mode & 0o077 == 0
    assert "PRIVATE KEY" not in repr(cert)
