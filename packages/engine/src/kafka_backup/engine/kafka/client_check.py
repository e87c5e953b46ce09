"""Checking a librdkafka configuration without connecting: librdkafka itself judges it.

A client is constructed with the configuration minus its broker list, once as a producer and once as a consumer
(a setting can be wrong for either role), and destroyed at once. Without ``bootstrap.servers`` a client has no
broker to connect to, so the check opens no connection (``tests/cli/test_bad_input.py`` asserts it with a listener
that counts connections); it costs well under a millisecond per client. What librdkafka checks this way: unknown
properties, invalid values, unreadable certificate files, SASL mechanisms without a provider, and the
cross-property rules it applies when a client is created (e.g. ``acks`` with ``enable.idempotence``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

_BROKER_KEYS = ("bootstrap.servers", "metadata.broker.list")
_ACTIVE_MECHANISMS = ("OAUTHBEARER", "GSSAPI")
_CREATE_FAILED = re.compile(r"^Failed to create (producer|consumer): ")
_OPENSSL_REASON = re.compile(r"routines::([^:(]+)")
_FILE_PROBLEMS = {
    "ssl.key.location failed": (
        "the client private key cannot be loaded",
        "check security.ssl_key_password, which an encrypted key needs, and that ssl_key_location is the PEM key "
        "of ssl_certificate_location",
    ),
    "ssl.certificate.location failed": (
        "the client certificate cannot be loaded",
        "security.ssl_certificate_location must be a PEM certificate",
    ),
    "ssl.ca.location failed": (
        "the CA certificates cannot be loaded",
        "security.ssl_ca_location must hold PEM certificates",
    ),
    "Private key check failed": (
        "the client key does not match its certificate",
        "set security.ssl_key_location to the key of ssl_certificate_location",
    ),
}
_SILENT = logging.getLogger("kafka_backup.engine.kafka.client_check")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False


def offline(conf: Mapping[str, object]) -> dict[str, object]:
    """``conf`` without a broker list (nothing to connect to), with a logger that keeps librdkafka's "no
    bootstrap.servers" notice off stderr.

    SASL mechanisms that act when the client is created are switched off for the check (their other settings are
    still judged): OAUTHBEARER with ``oidc`` fetches a token from its endpoint at once (and a client destroyed
    meanwhile waits out the request's timeout), GSSAPI runs ``kinit``."""
    checked = {k: v for k, v in conf.items() if k not in _BROKER_KEYS} | {"logger": _SILENT}
    if str(checked.get("sasl.mechanism", checked.get("sasl.mechanisms", ""))).upper() in _ACTIVE_MECHANISMS:
        protocol = str(checked.get("security.protocol", "")).upper()
        checked["security.protocol"] = "SSL" if protocol == "SASL_SSL" else "PLAINTEXT"
    return checked


def client_config_problem(conf: Mapping[str, object]) -> str | None:
    """librdkafka's complaint about ``conf`` (a producer's or a consumer's), or None when both roles accept it."""
    # imported here: the CLI parses configs in commands whose --help must not load the Kafka client
    from confluent_kafka import Consumer, KafkaException, Producer  # noqa: PLC0415

    checked = offline(conf)
    try:
        Producer(checked)
        Consumer({"group.id": "kafka-backup-config-check", **checked})
    except KafkaException as exc:
        error = exc.args[0]
        problem = str(error.str() if hasattr(error, "str") else error)
    except (ValueError, TypeError) as exc:
        problem = str(exc)
    else:
        return None
    return _CREATE_FAILED.sub("", problem)


def explain_client_problem(problem: str) -> tuple[str, str] | None:
    """A TLS file OpenSSL refused (a wrong key password, a key of another certificate), as (what, hint) in the
    config's terms instead of librdkafka's property names; None for any other problem."""
    for needle, (what, hint) in _FILE_PROBLEMS.items():
        if needle in problem:
            match = _OPENSSL_REASON.search(problem)
            return f"{what}: {match.group(1).strip() if match else problem}", hint
    return None
