"""Run an ASGI app with uvicorn in a background thread (for simulators and tests), over HTTP or HTTPS.

HTTPS uses a self-signed certificate made with ``cryptography`` (:func:`self_signed_certificate`); clients
trust it by passing the certificate file as their CA bundle (``requests``: ``verify=handle.ca_file``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn


@dataclass
class ServerHandle:
    """A running uvicorn server; ``stop()`` shuts it down and joins the thread."""

    host: str
    port: int
    server: uvicorn.Server = field(repr=False)
    thread: threading.Thread = field(repr=False)
    scheme: str = "http"
    ca_file: Path | None = None  # the self-signed certificate to trust when ``scheme`` is https

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8701`` (``https://...`` when served with TLS)."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():  # stuck on a long request: drop it
            self.server.force_exit = True
            self.thread.join(timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # signals belong to the main thread
        return None


def self_signed_certificate(directory: Path, name: str = "sim", hosts: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """A self-signed TLS certificate and key for ``localhost``/``127.0.0.1`` (and ``hosts``) in ``directory``.

    Reused while valid for at least a day and covering the names; returns ``(cert_path, key_path)``. The
    certificate is its own CA: clients pass ``cert_path`` as their CA bundle.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names = tuple(dict.fromkeys(("localhost", "127.0.0.1", *hosts)))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    now = datetime.now(UTC)
    sans: list[x509.GeneralName] = []
    for host in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    if cert_path.exists() and key_path.exists():
        try:
            old = x509.load_pem_x509_certificate(cert_path.read_bytes())
            have = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            if old.not_valid_after_utc > now + timedelta(days=1) and all(s in have for s in sans):
                return cert_path, key_path
        except (ValueError, x509.ExtensionNotFound):
            pass
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"storeflow {name} simulator")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_tmp, cert_tmp = key_path.with_suffix(".tmp"), cert_path.with_suffix(".tmp")
    key_tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key_tmp.chmod(0o600)
    cert_tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_tmp.replace(key_path)
    cert_tmp.replace(cert_path)
    return cert_path, key_path


def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 15.0,
    *,
    tls: tuple[Path, Path] | None = None,
    proxy_headers: bool = True,
) -> ServerHandle:
    """Run ``app`` on ``host:port`` (0 = ephemeral) in a thread; return when it accepts connections.

    ``tls=(cert_path, key_path)`` serves HTTPS. ``proxy_headers=False`` stops uvicorn from rewriting the
    scheme/client from ``X-Forwarded-*`` (the store simulator decides itself whether to trust them).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="auto",
        loop="asyncio",
        timeout_graceful_shutdown=0.5 if tls else 2,  # TLS keep-alive connections otherwise hold the stop
        proxy_headers=proxy_headers,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    server = _ThreadServer(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:  # noqa: BLE001 - surfaced to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{host}:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError(f"server on {host}:{port} failed to start") from (
                errors[0] if errors else None
            )
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"server on {host}:{port} did not start within {startup_timeout}s")
        time.sleep(0.01)
    bound = port
    for srv in server.servers:
        for sock in srv.sockets:
            bound = sock.getsockname()[1]
            break
    return ServerHandle(host=host, port=bound, server=server, thread=thread, scheme="https" if tls else "http",
                        ca_file=tls[0] if tls else None)
