"""A TLS listener on 127.0.0.1 whose certificate no client trusts (self-signed, made at
start), counting the handshakes it is offered: the simulator's stand-in for a provider
behind a certificate RouteDesk cannot verify (a self-signed proxy, an HTTPS-inspecting
antivirus). Tests read ``handshakes`` to see how often a client tried.

The certificate is made with ``cryptography`` (installed with the keyring's Secret Service
backend); nothing is written outside the folder the caller gives.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
from pathlib import Path

__all__ = ["UntrustedTLSServer"]


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "untrusted.crt", folder / "untrusted.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class UntrustedTLSServer:
    """``with UntrustedTLSServer(tmp_path) as tls: tls.url`` (https://127.0.0.1:PORT/v1)."""

    def __init__(self, folder: Path) -> None:
        cert, key = _self_signed(folder)
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert, key)
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.handshakes = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="untrusted-tls")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.handshakes += 1
            with contextlib.suppress(OSError, ssl.SSLError), conn:
                conn.settimeout(5)
                with self._ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)  # the client rejects the certificate; this ends at once

    def __enter__(self) -> UntrustedTLSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in _serve
        self._sock.close()
        self._thread.join(5)
