"""A throwaway certificate authority and broker certificate, made with the JDK's ``keytool`` alone.

The embedded broker's SASL_SSL listener needs a keystore; its clients need the CA that signed it.
:func:`create_broker_tls` makes both in one directory: a CA key pair, a broker key pair whose
certificate the CA signs for ``127.0.0.1`` (as CN and as IP SAN, so the hostname verification that
every client does by default passes), a PKCS12 keystore holding the broker's key and chain, and
the CA certificate as PEM, which librdkafka (``ssl.ca.location``) and Java clients
(``ssl.truststore.type=PEM``) both read. For local tests and development only: the keys are
unprotected on disk apart from a random store password.

>>> tls = create_broker_tls(Path("/tmp/tls"))   # doctest: +SKIP
>>> tls.keystore, tls.ca_pem                     # doctest: +SKIP
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# EC P-256 keys: generated in milliseconds and understood by OpenSSL and by Java's TLS alike.
_KEY_ARGS = ("-keyalg", "EC", "-groupname", "secp256r1")
_VALIDITY_DAYS = "30"


class TlsError(RuntimeError):
    """keytool is missing or failed; the message names the step and the fix."""


@dataclass(frozen=True)
class BrokerTls:
    """A broker's keystore and the CA that clients must trust to connect to it.

    Parameters
    ----------
    keystore
        PKCS12 file with the broker's private key and its certificate chain (broker, CA).
    password
        The keystore's (and key's) password; never shown in ``repr``.
    ca_pem
        The CA certificate in PEM, for clients.
    host
        The address the broker certificate is valid for.
    """

    keystore: Path
    password: str = field(repr=False)
    ca_pem: Path
    host: str = "127.0.0.1"


def _keytool(*args: str, step: str) -> None:
    keytool = shutil.which("keytool")
    if keytool is None:
        raise TlsError(
            "keytool not found on PATH: install a full Java 17 JDK or JRE (it ships one)"
        )
    result = subprocess.run([keytool, *args], capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        raise TlsError(f"keytool could not {step}: {' '.join(detail)}")


def create_broker_tls(directory: Path, host: str = "127.0.0.1") -> BrokerTls:
    """Create a CA, a broker keystore signed by it for ``host``, and the CA certificate as PEM.

    Parameters
    ----------
    directory
        Created if needed; receives ``ca.p12``, ``broker.p12``, ``ca.pem`` and the intermediate
        request and certificate files. Existing files of these names are replaced.
    host
        An IP address or DNS name the broker is reached at; it becomes the certificate's CN and
        its subject alternative name (``ip:`` or ``dns:``).

    Returns
    -------
    BrokerTls
        The broker keystore, its password, and the CA certificate for clients.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_store, ca_pem = directory / "ca.p12", directory / "ca.pem"
    broker_store, request, signed = (directory / f"broker.{ext}" for ext in ("p12", "csr", "pem"))
    for stale in (ca_store, broker_store, request, signed, ca_pem):
        stale.unlink(missing_ok=True)
    password = secrets.token_hex(16)
    store = ("-storetype", "PKCS12", "-storepass", password)
    kind = "ip" if host.replace(".", "").isdigit() or ":" in host else "dns"
    san = f"SAN={kind}:{host}"

    # bc:c marks the CA as a CA; OpenSSL refuses an issuer without it.
    _keytool(
        "-genkeypair", "-alias", "ca", "-dname", "CN=ridestream local CA", "-ext", "bc:c",
        *_KEY_ARGS, "-validity", _VALIDITY_DAYS, "-keystore", str(ca_store), *store,
        step="create the CA key pair",
    )  # fmt: skip
    _keytool(
        "-exportcert", "-alias", "ca", "-rfc", "-file", str(ca_pem), "-keystore", str(ca_store),
        *store, step="export the CA certificate",
    )  # fmt: skip
    _keytool(
        "-genkeypair", "-alias", "broker", "-dname", f"CN={host}", "-ext", san, *_KEY_ARGS,
        "-validity", _VALIDITY_DAYS, "-keystore", str(broker_store), *store,
        step="create the broker key pair",
    )  # fmt: skip
    _keytool(
        "-certreq", "-alias", "broker", "-file", str(request), "-keystore", str(broker_store),
        *store, step="write the broker's certificate request",
    )  # fmt: skip
    # The SAN is given again here: -gencert copies no extension from the request by itself.
    _keytool(
        "-gencert", "-alias", "ca", "-infile", str(request), "-outfile", str(signed), "-rfc",
        "-ext", san, "-ext", "eku=serverAuth", "-validity", _VALIDITY_DAYS,
        "-keystore", str(ca_store), *store, step="sign the broker certificate with the CA",
    )  # fmt: skip
    # The CA goes in first, so that the signed reply below imports as a full chain.
    _keytool(
        "-importcert", "-alias", "ca", "-file", str(ca_pem), "-noprompt",
        "-keystore", str(broker_store), *store, step="add the CA to the broker keystore",
    )  # fmt: skip
    _keytool(
        "-importcert", "-alias", "broker", "-file", str(signed), "-keystore", str(broker_store),
        *store, step="import the signed broker certificate",
    )  # fmt: skip
    return BrokerTls(keystore=broker_store, password=password, ca_pem=ca_pem, host=host)
