"""Certificates for the rig's TLS listeners, generated at test time with the ``openssl`` command.

One :func:`generate` call writes a private CA, a broker certificate signed by it (SAN ``IP:127.0.0.1`` and
``DNS:localhost``, so host-name verification passes on the loopback address the rig advertises), a client
certificate for mTLS (its key also stored encrypted under :data:`KEY_PASSWORD`), and an unrelated second CA with a
client certificate of its own, for "wrong trust anchor" tests on either side. Keys are EC P-256: generating them
takes milliseconds, so a session pays almost nothing for TLS. The broker reads them as PEM key stores
(``ssl.keystore.type=PEM``), so no ``keytool`` is needed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

KEY_PASSWORD = "client-Key-Pass-5e1b"  # noqa: S105 - a throwaway key of test certificates
"""Password of :attr:`TlsFiles.client_key_encrypted`."""
_DAYS = "30"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one generated trust domain (every path exists once :func:`generate` returns)."""

    ca: Path
    """The CA certificate the broker and client certificates are signed by."""
    broker_keystore: Path
    """The broker's PKCS#8 key (unencrypted: Java 17 cannot decrypt PBES2) followed by its certificate."""
    client_cert: Path
    client_key: Path
    """The client's private key, unencrypted."""
    client_key_encrypted: Path
    """The same key encrypted with :data:`KEY_PASSWORD`."""
    wrong_ca: Path
    """A CA that signed nothing the broker presents or trusts."""
    rogue_client_cert: Path
    """A client certificate signed by ``wrong_ca``: the mTLS listener refuses it."""
    rogue_client_key: Path
    key_password: str = KEY_PASSWORD


def _openssl(*args: str, cwd: Path) -> None:
    from rig.kafka import RigError, require_tool  # noqa: PLC0415 - rig.kafka imports this module

    openssl = require_tool("openssl", "install OpenSSL, e.g. `apt-get install openssl`")
    result = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RigError(f"openssl {' '.join(args[:2])} failed:\n{result.stderr[-2000:]}")


def _key(name: str, cwd: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name, cwd=cwd)


def _self_signed_ca(name: str, cwd: Path) -> None:
    _key(f"{name}.key", cwd)
    _openssl(
        "req", "-x509", "-new", "-key", f"{name}.key", "-sha256", "-days", _DAYS, "-subj", f"/CN=kafka-backup {name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", f"{name}.pem", cwd=cwd,
    )  # fmt: skip


def _signed_cert(name: str, subject: str, extensions: str, cwd: Path, ca: str = "ca") -> None:
    """``name.key`` and ``name.pem``, signed by ``ca``; ``extensions`` are x509v3 lines (SAN, usage)."""
    _key(f"{name}.key", cwd)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=cwd)
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
        "-days", _DAYS, "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=cwd,
    )  # fmt: skip


def generate(directory: Path) -> TlsFiles:
    """Write a fresh trust domain into ``directory`` (created if missing) and describe its files."""
    directory.mkdir(parents=True, exist_ok=True)
    _self_signed_ca("ca", directory)
    _self_signed_ca("wrong-ca", directory)
    usage = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    _signed_cert(
        "broker", "/CN=localhost", f"{usage}extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n", directory,
    )  # fmt: skip
    client_usage = f"{usage}extendedKeyUsage=clientAuth\n"
    _signed_cert("client", "/CN=kafka-backup-client", client_usage, directory)
    _signed_cert("rogue-client", "/CN=rogue-client", client_usage, directory, ca="wrong-ca")
    # Kafka's PEM key store wants PKCS#8, which `genpkey` writes; the key comes first, then the chain
    keystore = directory / "broker-keystore.pem"
    keystore.write_text((directory / "broker.key").read_text() + (directory / "broker.pem").read_text())
    _openssl(
        "pkcs8", "-topk8", "-in", "client.key", "-v2", "aes-256-cbc", "-passout", f"pass:{KEY_PASSWORD}",
        "-out", "client-key-encrypted.pem", cwd=directory,
    )  # fmt: skip
    return TlsFiles(
        ca=directory / "ca.pem",
        broker_keystore=keystore,
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        client_key_encrypted=directory / "client-key-encrypted.pem",
        wrong_ca=directory / "wrong-ca.pem",
        rogue_client_cert=directory / "rogue-client.pem",
        rogue_client_key=directory / "rogue-client.key",
    )
