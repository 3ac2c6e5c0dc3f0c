"""wss:// with a CA bundle or a pinned certificate; config and token store checks."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import os
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloverpay.remotepay import (
    CloverConnector,
    ConnectorConfig,
    FileTokenStore,
    NotReadyError,
    OutcomeUnknownError,
    SaleRequest,
    direct_url,
)

from .device import FakeDevice
from .test_connector import RAID, Recorder

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1: (cert PEM, key PEM, DER SHA-256)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Emulated Clover Device")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "device.pem", folder / "device.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pin = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    return cert_path, key_path, pin


def server_context(cert: tuple[Path, Path, str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert[0], cert[1])
    return ctx


def tls_config(url: str, **kw: Any) -> ConnectorConfig:
    values: dict[str, Any] = {
        "url": url,
        "remote_application_id": RAID,
        "heartbeat_interval": None,
        "reconnect_delay": 0.05,
    }
    return ConnectorConfig(**(values | kw))


@pytest.mark.parametrize("check_hostname", [False, True])
async def test_sale_over_wss_with_a_ca_bundle(
    cert: tuple[Path, Path, str], check_hostname: bool
) -> None:
    fake = FakeDevice()
    async with fake.running(server_context(cert)) as url:
        cfg = tls_config(url, ca_file=str(cert[0]), check_hostname=check_hostname)
        async with CloverConnector(cfg) as connector:
            response = await connector.sale(SaleRequest(amount=100, external_id="tls-1"))
    assert url.startswith("wss://")
    assert response.success


async def test_pinned_certificate(cert: tuple[Path, Path, str]) -> None:
    fake = FakeDevice()
    async with fake.running(server_context(cert)) as url:
        async with CloverConnector(tls_config(url, pinned_sha256=cert[2])) as connector:
            assert connector.is_ready
        listener = Recorder()
        wrong = CloverConnector(tls_config(url, pinned_sha256="00" * 32), listener)
        with pytest.raises(NotReadyError):
            await wrong.connect(timeout=30)
        await wrong.close()
    assert ("error", "CertificatePin") in listener.calls
    assert fake.connections == 2
    assert fake.methods().count("PAIRING_REQUEST") == 1  # nothing sent to the wrong device


async def test_untrusted_certificate_is_refused(cert: tuple[Path, Path, str]) -> None:
    fake = FakeDevice()
    listener = Recorder()
    async with fake.running(server_context(cert)) as url:
        connector = CloverConnector(tls_config(url), listener)  # system CAs only
        await connector.connect(wait_ready=False)
        async with asyncio.timeout(30):
            await listener.error_seen.wait()
        assert not connector.is_ready
        await connector.close()
    assert ("error", "NotConnected") in listener.calls
    assert fake.received == []


async def test_a_late_result_still_reaches_the_listener() -> None:
    fake = FakeDevice(mode="late")
    listener = Recorder()
    async with fake.running() as url:
        cfg = tls_config(url.replace("wss", "ws"), allow_plain_ws=True, recovery_timeout=None)
        async with CloverConnector(cfg, listener) as connector:
            with pytest.raises(OutcomeUnknownError):
                await connector.sale(SaleRequest(amount=100, external_id="late-1"), timeout=0.1)
            async with asyncio.timeout(30):
                await listener.response_seen.wait()
    (late,) = listener.responses
    assert late.success
    assert late.payment.external_payment_id == "late-1"


def test_config_checks() -> None:
    assert direct_url("10.0.0.5") == "wss://10.0.0.5:12345/remote_pay"
    assert direct_url("10.0.0.5", 8080, secure=False) == "ws://10.0.0.5:8080/remote_pay"
    url = direct_url("10.0.0.5")
    with pytest.raises(ValueError, match="url"):
        ConnectorConfig(url="http://x/remote_pay", remote_application_id=RAID)
    with pytest.raises(ValueError, match="remote_application_id"):
        ConnectorConfig(url=url, remote_application_id="")
    with pytest.raises(ValueError, match="pinned_sha256"):
        ConnectorConfig(url=url, remote_application_id=RAID, pinned_sha256="abc")
    with pytest.raises(ValueError, match="request_timeout"):
        ConnectorConfig(url=url, remote_application_id=RAID, request_timeout=0)
    with pytest.raises(ValueError, match="heartbeat_interval"):
        ConnectorConfig(url=url, remote_application_id=RAID, heartbeat_interval=-1)
    plain = ConnectorConfig(
        url=direct_url("h", secure=False), remote_application_id=RAID, allow_plain_ws=True
    )
    assert plain.ssl_context() is None
    assert plain.pin_matches(None)
    pinned = ConnectorConfig(url=url, remote_application_id=RAID, pinned_sha256="AB:" * 31 + "AB")
    assert not pinned.pin_matches(None)


def test_file_token_store(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "sub" / "token")
    assert store.load() is None
    store.save("secret-token")
    assert store.load() == "secret-token"
    assert os.stat(store.path).st_mode & 0o777 == 0o600
    assert "secret-token" not in repr(store)
    store.save(None)
    assert store.load() is None
