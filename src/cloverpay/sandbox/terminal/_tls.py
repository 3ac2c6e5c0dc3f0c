"""A self-signed certificate authority and server certificate for ``wss://``.

A real terminal presents a certificate issued by Clover's device CA; the emulated one
makes its own small CA at start-up and a server certificate for the host names and IP
addresses it listens on. Give :attr:`TerminalCertificate.ca_pem` to the client (Python
``ssl.create_default_context(cadata=...)``, Node ``NODE_EXTRA_CA_CERTS``, a browser's
certificate store); :meth:`TerminalCertificate.write` puts the PEM files on disk.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TerminalCertificate", "generate_certificate"]


@dataclass(frozen=True, slots=True)
class TerminalCertificate:
    """PEM text of the CA certificate, the server certificate and its private key."""

    ca_pem: str
    cert_pem: str
    key_pem: str = field(repr=False)

    def write(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``terminal-ca.pem``, ``terminal-cert.pem`` and ``terminal-key.pem``
        (key readable by the owner only); returns their paths."""
        base = Path(directory)
        base.mkdir(parents=True, exist_ok=True)
        paths = {
            "ca": base / "terminal-ca.pem",
            "cert": base / "terminal-cert.pem",
            "key": base / "terminal-key.pem",
        }
        paths["ca"].write_text(self.ca_pem)
        paths["cert"].write_text(self.cert_pem + self.ca_pem)
        fd = os.open(paths["key"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.key_pem)
        return paths

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting this certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="cloverpay-terminal-") as tmp:
            paths = self.write(tmp)
            ctx.load_cert_chain(paths["cert"], paths["key"])
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts only this terminal's CA."""
        return ssl.create_default_context(cadata=self.ca_pem)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cloverpay sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def generate_certificate(hosts: list[str] | None = None, days: int = 365) -> TerminalCertificate:
    """A fresh CA and a server certificate for ``hosts`` (default 127.0.0.1, ::1,
    localhost). Host strings that parse as IP addresses become IP SANs."""
    hosts = hosts or ["127.0.0.1", "::1", "localhost"]
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("cloverpay sandbox terminal CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return TerminalCertificate(
        ca_pem=ca_cert.public_bytes(pem).decode(),
        cert_pem=cert.public_bytes(pem).decode(),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
