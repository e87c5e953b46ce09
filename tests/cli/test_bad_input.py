"""Bad input of every command: exit 2, one line ``error[CODE]: what (how to fix)``, no traceback, no connection.

Every case points the Kafka bootstrap at a TCP listener the test owns and asserts that it accepted no connection;
storage is a local folder. Most cases run in-process with click's CliRunner (fast); a few run as real subprocesses
(real exit codes and stderr, and a bound on time for the inputs that used to hang).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from confluent_kafka import KafkaException, Producer

from engine.restore_support import make_backup, numbered_topic
from kafka_backup.cli.main import cli
from kafka_backup.engine.kafka.client_check import client_config_problem, offline
from rig.kafka import KafkaEndpoint

LINE = re.compile(r"^error\[([A-Z_]+)\]: .+ \(.+\)$")
BACKUP_ID = "bad-input"
SHARED_GLOBALS = re.compile(r"\[opentelemetry[.a-z_]*\]")


class ConnectionCounter:
    """A listening socket nobody should connect to; counts the connections that arrived since the last look."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.setblocking(False)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def take(self) -> int:
        """Connections accepted by the kernel since the last call (they wait in the backlog until accepted)."""
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


@pytest.fixture(scope="module")
def listener() -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter()
    yield counter
    counter.sock.close()


@pytest.fixture(scope="module")
def sample_backup(kafka: KafkaEndpoint, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real 2-partition backup (root folder, topic), for the checks that read the backup but not the target."""
    root = tmp_path_factory.mktemp("bad-input-store")
    topic = numbered_topic(kafka.bootstrap, "bad-input", 20)
    make_backup(kafka.bootstrap, root, BACKUP_ID, [topic])
    return root, topic


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, the config file it reads (if any), the error code and a phrase expected."""

    name: str
    args: tuple[str, ...]
    code: str
    config: dict[str, Any] | str | bytes | None = None
    expect: str = ""
    needs_backup: bool = False
    setup: tuple[str, ...] = field(default=())
    """Paths under the test's folder to create as folders first."""


BOOT = "{bootstrap}"
STORE = "{store}"
C = "{config}"
BACKUP: dict[str, Any] = {"backup_id": "b1", "source": {"bootstrap_servers": BOOT}, "storage": {"url": STORE}}
RESTORE: dict[str, Any] = {"backup_id": BACKUP_ID, "storage": {"url": STORE}, "target": {"bootstrap_servers": BOOT}}


def backup_with(**changes: Any) -> dict[str, Any]:
    """The minimal backup config with sections replaced or merged (``source`` merges, others replace)."""
    out: dict[str, Any] = json.loads(json.dumps(BACKUP))
    for key, value in changes.items():
        out[key] = {**out[key], **value} if key == "source" else value
    return out


def restore_with(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(RESTORE))
    return {**out, **changes}


BILLION_LAUGHS = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)
SASL = {"protocol": "SASL_SSL", "sasl_username": "u", "sasl_password": "p"}
TOPIC = "{topic}"

CASES = [
    # ---- backup: the config file --------------------------------------------------------------------------------
    Case("regex-include", ("backup", "-c", C), "CONFIG_INVALID", backup_with(topics={"include": ["re:["]}), "regex"),
    Case("regex-exclude", ("backup", "-c", C), "CONFIG_INVALID", backup_with(topics={"exclude": ["re:(?"]}), "re:(?"),
    Case("regex-groups", ("backup", "-c", C), "CONFIG_INVALID", backup_with(consumer_groups={"include": ["re:*"]})),
    Case(
        "sasl-no-mechanism",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"security": SASL}),
        "sasl_mechanism",
    ),
    Case(
        "sasl-no-password",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"security": {"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"}}),
        "sasl_password",
    ),
    Case(
        "mechanism-without-sasl",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"security": {"sasl_mechanism": "PLAIN"}}),
        "PLAINTEXT",
    ),
    Case("non-utf8", ("backup", "-c", C), "CONFIG_INVALID", b"backup_id: b\xff1\nsource: {}\n", "not UTF-8"),
    Case(
        "client-config-value",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"client_config": {"fetch.max.bytes": "lots"}}),
        "fetch.max.bytes",
    ),
    Case(
        "client-config-unknown",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"client_config": {"no.such.property": 1}}),
        "no.such.property",
    ),
    Case(
        "client-config-conflict",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"client_config": {"enable.idempotence": True, "acks": 1}}),
        "acks",
    ),
    Case(
        "client-config-brokers-only",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"client_config": {"bootstrap.servers": BOOT, "socket.timeout.ms": -1}}),
    ),
    Case("alias-bomb", ("backup", "-c", C), "CONFIG_INVALID", BILLION_LAUGHS, "aliases"),
    Case("alias-recursive", ("backup", "-c", C), "CONFIG_INVALID", "a: &a [1, *a]\n", "refers to itself"),
    Case("deep-nesting", ("backup", "-c", C), "CONFIG_INVALID", "a: " + "[" * 3000 + "]" * 3000 + "\n", "deeper"),
    Case("oversized-file", ("backup", "-c", C), "CONFIG_INVALID", "#" * (2 * 1024 * 1024) + "\n", "larger"),
    Case("ftp-url", ("backup", "-c", C), "CONFIG_INVALID", backup_with(storage={"url": "ftp://h/x"}), "ftp://"),
    Case("s3-no-bucket", ("backup", "-c", C), "CONFIG_INVALID", backup_with(storage={"url": "s3://"}), "bucket"),
    Case("s3-empty-bucket", ("backup", "-c", C), "CONFIG_INVALID", backup_with(storage={"url": "gs:///p"}), "bucket"),
    Case(
        "bootstrap-not-a-port",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"bootstrap_servers": "127.0.0.1:notaport"}),
        "HOST:PORT",
    ),
    Case(
        "bootstrap-port-range",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"bootstrap_servers": f"{BOOT},127.0.0.1:70000"}),
        "70000",
    ),
    Case(
        "bootstrap-empty-entry",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"bootstrap_servers": f"{BOOT},,{BOOT}"}),
    ),
    Case("zstd-level", ("backup", "-c", C), "CONFIG_INVALID", backup_with(compression={"level": 99}), "zstd level"),
    Case("yaml-syntax", ("backup", "-c", C), "CONFIG_INVALID", "backup_id: [unclosed\n", "not valid YAML at line"),
    Case("not-a-mapping", ("backup", "-c", C), "CONFIG_INVALID", "- a\n- b\n", "mapping"),
    Case("empty-file", ("backup", "-c", C), "CONFIG_INVALID", "", "mapping"),
    Case("missing-file", ("backup", "-c", "{tmp}/nope.yaml"), "CONFIG_INVALID", None, "does not exist"),
    Case("config-is-folder", ("backup", "-c", "{tmp}"), "CONFIG_INVALID", None, "cannot be read"),
    Case("unknown-key", ("backup", "-c", C), "CONFIG_INVALID", backup_with(topics={"inclde": ["a"]}), "did you mean"),
    Case("missing-source", ("backup", "-c", C), "CONFIG_INVALID", {"backup_id": "b1"}, "'source'"),
    Case("backup-id-path", ("backup", "-c", C), "CONFIG_INVALID", backup_with(backup_id="../x"), "backup_id"),
    Case(
        "env-missing",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"bootstrap_servers": "${KB_BAD_INPUT_UNSET}"}),
        "KB_BAD_INPUT_UNSET",
    ),
    Case("segment-zero", ("backup", "-c", C), "CONFIG_INVALID", backup_with(segment={"max_records": 0}), "max_records"),
    Case("mode-unknown", ("backup", "-c", C), "CONFIG_INVALID", backup_with(mode="sometimes"), "mode"),
    Case(
        "storage-setting-typo",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(storage={"url": STORE, "settings": {"endpoit_url": "x"}}),
        "endpoit_url",
    ),
    Case(
        "ssl-ca-missing",
        ("backup", "-c", C),
        "CONFIG_INVALID",
        backup_with(source={"security": {"protocol": "SSL", "ssl_ca_location": "{tmp}/no-ca.pem"}}),
        "ssl",
    ),
    Case("json-error-object", ("backup", "-c", C, "--json"), "CONFIG_INVALID", backup_with(storage={"url": "ftp://x"})),
    # ---- backup: flags ----------------------------------------------------------------------------------------------
    Case(
        "metrics-output-no-folder",
        ("backup", "-c", C, "--metrics-output", "{tmp}/nope/m.prom"),
        "USAGE_ERROR",
        backup_with(),
        "does not exist",
    ),
    Case(
        "metrics-output-under-a-file",
        ("backup", "-c", C, "--metrics-output", "{tmp}/job.yaml/m.prom"),
        "USAGE_ERROR",
        backup_with(),
        "is not a folder",
    ),
    Case(
        "metrics-output-suffix",
        ("backup", "-c", C, "--metrics-output", "{tmp}/m.txt"),
        "USAGE_ERROR",
        backup_with(),
        ".prom or .json",
    ),
    Case(
        "metrics-output-folder",
        ("backup", "-c", C, "--metrics-output", "{tmp}/d.prom"),
        "USAGE_ERROR",
        backup_with(),
        "is a folder",
        setup=("d.prom",),
    ),
    Case(
        "expose-metrics",
        ("backup", "-c", C, "--expose-metrics", "localhost:http"),
        "USAGE_ERROR",
        backup_with(),
        "HOST:]PORT",
    ),
    Case("log-format", ("backup", "-c", C, "--log-format", "xml"), "USAGE_ERROR", backup_with(), "--log-format"),
    Case("unknown-option", ("backup", "-c", C, "--frobnicate"), "USAGE_ERROR", backup_with(), "--frobnicate"),
    Case("missing-config-flag", ("backup",), "USAGE_ERROR", None, "--config"),
    Case("unknown-command", ("bakup",), "USAGE_ERROR", None, "bakup"),
    Case("usage-error-json", ("list", "--json", "--nope"), "USAGE_ERROR", None, "--nope"),
    # ---- service ----------------------------------------------------------------------------------------------------
    Case("service-ftp-url", ("service", "-c", C), "CONFIG_INVALID", backup_with(storage={"url": "ftp://x"})),
    Case("service-metrics-port", ("service", "-c", C), "CONFIG_INVALID", backup_with(metrics={"port": 70000}), "port"),
    Case("service-missing-config", ("service",), "USAGE_ERROR", None, "--config"),
    # ---- restore ----------------------------------------------------------------------------------------------------
    Case(
        "restore-from-flag", ("restore", "-c", C, "--from", "2024-13-45"), "CONFIG_INVALID", restore_with(), "--from:"
    ),
    Case(
        "restore-from-after-to",
        ("restore", "-c", C, "--from", "2024-02-01", "--to", "2024-01-01"),
        "CONFIG_INVALID",
        restore_with(),
        "after",
    ),
    Case(
        "restore-rename-flag",
        ("restore", "-c", C, "--dry-run", "--topic-map", f"{TOPIC}=bad topic!"),
        "CONFIG_INVALID",
        restore_with(),
        "--topic-map:",
    ),
    Case("restore-rename-dots", ("restore", "-c", C), "CONFIG_INVALID", restore_with(topic_map={TOPIC: ".."}), "'..'"),
    Case(
        "restore-rename-long", ("restore", "-c", C), "CONFIG_INVALID", restore_with(topic_map={TOPIC: "t" * 250}), "249"
    ),
    Case(
        "restore-rename-no-equals",
        ("restore", "-c", C, "--topic-map", "orders"),
        "CONFIG_INVALID",
        restore_with(),
        "SOURCE=TARGET",
    ),
    Case(
        "restore-partition-map-topic",
        ("restore", "-c", C),
        "CONFIG_INVALID",
        restore_with(partition_map={"ghost": {0: 1}}),
        "ghost",
        needs_backup=True,
    ),
    Case(
        "restore-partition-map-partition",
        ("restore", "-c", C),
        "CONFIG_INVALID",
        restore_with(partition_map={TOPIC: {7: 0}}),
        "partition(s) 7",
        needs_backup=True,
    ),
    Case(
        "restore-partitions-absent",
        ("restore", "-c", C, "--dry-run"),
        "CONFIG_INVALID",
        restore_with(partitions={TOPIC: [0, 5]}),
        "partition(s) 5",
        needs_backup=True,
    ),
    Case(
        "restore-partitions-topic",
        ("restore", "-c", C),
        "CONFIG_INVALID",
        restore_with(partitions={"ghost": [0]}),
        "ghost",
        needs_backup=True,
    ),
    Case(
        "restore-offset-range-partition",
        ("restore", "-c", C),
        "CONFIG_INVALID",
        restore_with(offset_ranges=[{"topic": TOPIC, "partitions": [2], "from": 0}]),
        "partition(s) 2",
        needs_backup=True,
    ),
    Case(
        "restore-no-topic-matches",
        ("restore", "-c", C, "--topic", "nothing-*"),
        "CONFIG_INVALID",
        restore_with(),
        "matches",
        needs_backup=True,
    ),
    Case(
        "restore-backup-not-found",
        ("restore", "-c", C, "-b", "no-such-backup"),
        "BACKUP_NOT_FOUND",
        restore_with(),
        "no-such-backup",
        needs_backup=True,
    ),
    Case(
        "restore-backup-id-path",
        ("restore", "-c", C, "-b", "../../x"),
        "CONFIG_INVALID",
        restore_with(),
        "--backup-id:",
    ),
    Case("restore-no-target", ("restore", "-s", STORE, "-b", BACKUP_ID), "CONFIG_INVALID", None, "target"),
    Case(
        "restore-replication-factor",
        ("restore", "-c", C, "--replication-factor", "0"),
        "CONFIG_INVALID",
        restore_with(),
        "--replication-factor:",
    ),
    Case(
        "restore-rate",
        ("restore", "-c", C, "--max-records-per-sec", "-5"),
        "CONFIG_INVALID",
        restore_with(),
        "--max-records-per-sec:",
    ),
    Case("restore-topic-regex", ("restore", "-c", C, "--topic", "re:["), "CONFIG_INVALID", restore_with(), "--topic:"),
    Case(
        "restore-repartition-map",
        ("restore", "-c", C, "--repartition"),
        "CONFIG_INVALID",
        restore_with(partition_map={TOPIC: {0: 1}}),
        "repartition",
    ),
    Case(
        "restore-create-partitions",
        ("restore", "-c", C),
        "CONFIG_INVALID",
        restore_with(create_topics={"partitions": {"t": 0}}),
        "create_topics.partitions",
    ),
    Case(
        "restore-bootstrap-flag",
        ("restore", "-c", C, "--bootstrap-servers", "kafka:x"),
        "CONFIG_INVALID",
        restore_with(),
        "--bootstrap-servers:",
    ),
    Case(
        "restore-dry-run-json",
        ("restore", "-c", C, "--dry-run", "--json", "--topic-map", f"{TOPIC}=a/b"),
        "CONFIG_INVALID",
        restore_with(),
    ),
    # ---- validate, list, describe, prune --------------------------------------------------------------------------
    Case(
        "validate-backup-id-path", ("validate", "-s", STORE, "-b", "../../etc"), "CONFIG_INVALID", None, "--backup-id"
    ),
    Case("validate-no-backup-id", ("validate", "-s", STORE), "CONFIG_INVALID", None, "backup id"),
    Case("validate-ftp", ("validate", "-s", "ftp://h/x", "-b", "b"), "CONFIG_INVALID", None, "--storage-url:"),
    Case("validate-no-storage", ("validate", "-b", "b"), "CONFIG_INVALID", None, "storage URL"),
    Case(
        "validate-config-id-path",
        ("validate", "-c", C),
        "CONFIG_INVALID",
        {"backup_id": "../up", "storage": {"url": STORE}},
        "backup_id",
    ),
    Case("list-ftp", ("list", "-s", "ftp://h/x"), "CONFIG_INVALID", None, "ftp://"),
    Case("list-s3-no-bucket", ("list", "-s", "s3://", "--json"), "CONFIG_INVALID", None, "bucket"),
    Case("list-bad-yaml", ("list", "-c", C), "CONFIG_INVALID", "storage: {url: [\n", "YAML"),
    Case("describe-backup-id-path", ("describe", "-s", STORE, "-b", "../x", "--json"), "CONFIG_INVALID", None),
    Case(
        "describe-storage-typo",
        ("describe", "-c", C),
        "CONFIG_INVALID",
        {"backup_id": "b", "storage": {"url": STORE, "optons": {}}},
        "did you mean",
    ),
    Case("prune-older-than", ("prune", "-s", STORE, "--older-than", "fortnight"), "CONFIG_INVALID", None, "duration"),
    Case("prune-keep-last", ("prune", "-s", STORE, "--keep-last", "-1"), "USAGE_ERROR", None, "--keep-last"),
    # ---- drill ------------------------------------------------------------------------------------------------------
    Case("drill-min-score", ("drill", "-c", C, "--min-score", "200"), "CONFIG_INVALID", restore_with(), "--min-score:"),
    Case(
        "drill-sample-records",
        ("drill", "-c", C, "--sample-records", "0"),
        "CONFIG_INVALID",
        restore_with(),
        "--sample-records:",
    ),
    Case("drill-backup-id-path", ("drill", "-c", C, "-b", "a/../../b"), "CONFIG_INVALID", restore_with()),
    Case(
        "drill-topic-regex",
        ("drill", "-c", C, "--exclude-topic", "re:+"),
        "CONFIG_INVALID",
        restore_with(),
        "--exclude-topic:",
    ),
    Case("drill-json", ("drill", "-s", STORE, "-b", BACKUP_ID, "--json"), "CONFIG_INVALID", None, "target"),
    # ---- offset-reset ---------------------------------------------------------------------------------------------
    Case("offset-reset-backup-id-path", ("offset-reset", "plan", "-s", STORE, "-b", "../../x"), "CONFIG_INVALID"),
    Case(
        "offset-reset-restore-id-path",
        ("offset-reset", "plan", "-s", STORE, "-b", "b", "-r", "../r"),
        "CONFIG_INVALID",
        None,
        "--restore-id",
    ),
    Case(
        "offset-reset-group-regex",
        ("offset-reset", "execute", "-s", STORE, "-b", "b", "-g", "re:(", "--json"),
        "CONFIG_INVALID",
        None,
        "re:(",
    ),
    Case("offset-reset-unknown-subcommand", ("offset-reset", "undo"), "USAGE_ERROR", None, "undo"),
]


def prepare(case: Case, tmp_path: Path, listener: ConnectionCounter, request: pytest.FixtureRequest) -> list[str]:
    """The case's command line with its config file written and the placeholders filled in."""
    store, topic = f"file://{tmp_path / 'store'}", "no-topic"
    if case.needs_backup or TOPIC in repr(case.config) or TOPIC in " ".join(case.args):
        root, topic = request.getfixturevalue("sample_backup")
        store = f"file://{root}"
    for folder in case.setup:
        (tmp_path / folder).mkdir()
    values = {BOOT: listener.address, STORE: store, TOPIC: topic, "{tmp}": str(tmp_path)}

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    config = tmp_path / "job.yaml"
    values[C] = str(config)
    if isinstance(case.config, bytes):
        config.write_bytes(case.config)
    elif isinstance(case.config, str):
        config.write_text(fill(case.config))
    elif case.config is not None:
        config.write_text(fill(yaml.safe_dump(case.config)))
    return [fill(a) for a in case.args]


def check_output(case: Case, exit_code: int, stdout: str, stderr: str, args: list[str], *, in_process: bool) -> None:
    assert exit_code == 2, f"exit {exit_code}\nstdout: {stdout}\nstderr: {stderr}"
    assert "Traceback" not in stderr + stdout, stderr
    lines = stderr.splitlines()
    if in_process:
        # runs in one process share OpenTelemetry's global providers, which warn when set again; a real process
        # (test_bad_input_as_a_process) has no such lines
        lines = [line for line in lines if not SHARED_GLOBALS.search(line)]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    match = LINE.match(lines[0])
    assert match, lines[0]
    assert match.group(1) == case.code, lines[0]
    assert case.expect in lines[0], lines[0]
    if "--json" in args:
        error = json.loads(stdout)["error"]
        assert (error["code"], error["exit_code"]) == (case.code, 2), stdout
        assert error["message"] and error["hint"] and f"{error['message']} ({error['hint']})" in lines[0]
    else:
        assert stdout == "", stdout


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_in_process(
    case: Case, tmp_path: Path, listener: ConnectionCounter, request: pytest.FixtureRequest
) -> None:
    """Exit 2, one error line with its fix, no traceback, no connection to the (listening) bootstrap address."""
    args = prepare(case, tmp_path, listener, request)
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, SystemExit), result.exc_info
    check_output(case, result.exit_code, result.stdout, result.stderr, args, in_process=True)
    assert listener.take() == 0, "a connection was made to the Kafka bootstrap address"


SUBPROCESS = ["alias-bomb", "non-utf8", "unknown-option", "client-config-value", "restore-partition-map-partition"]


@pytest.mark.parametrize("name", SUBPROCESS)
def test_bad_input_as_a_process(
    name: str, tmp_path: Path, listener: ConnectionCounter, request: pytest.FixtureRequest
) -> None:
    """The same contract from a real process: its exit code and stderr, and no hang (bounded by the timeout)."""
    case = next(c for c in CASES if c.name == name)
    args = prepare(case, tmp_path, listener, request)
    result = subprocess.run(
        [sys.executable, "-m", "kafka_backup.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("KAFKA_BACKUP_")},
    )
    check_output(case, result.returncode, result.stdout, result.stderr, args, in_process=False)
    assert listener.take() == 0, "a connection was made to the Kafka bootstrap address"


def test_enough_cases() -> None:
    """The table covers at least 40 bad inputs, across every command."""
    assert len(CASES) >= 40
    commands = {c.args[0] for c in CASES}
    assert commands >= {
        "backup",
        "service",
        "restore",
        "validate",
        "list",
        "describe",
        "prune",
        "drill",
        "offset-reset",
    }


def test_client_check_connects_nowhere(listener: ConnectionCounter) -> None:
    """The client_config check's clients have no broker list: asked for metadata, one reaches no broker, while the
    same request with the broker list reaches the listener (so the listener would have seen a connection)."""
    conf = {"bootstrap.servers": listener.address, "socket.connection.setup.timeout.ms": 1000}
    checked = Producer(offline(conf))
    with pytest.raises(KafkaException):
        checked.list_topics(timeout=2)
    assert listener.take() == 0
    control = Producer({**conf, "logger": logging.getLogger("test_bad_input.control")})
    with pytest.raises(KafkaException):
        control.list_topics(timeout=2)  # the listener accepts but never answers
    assert listener.take() >= 1


def test_client_check_fetches_no_oidc_token(listener: ConnectionCounter) -> None:
    """An OIDC client_config is judged without fetching a token: the same config in a real client does contact
    the token endpoint (here: the listener)."""
    conf = {
        "bootstrap.servers": listener.address,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": "id",
        "sasl.oauthbearer.client.secret": "secret",
        "sasl.oauthbearer.token.endpoint.url": f"http://{listener.address}/token",
    }
    assert client_config_problem(conf) is None
    assert listener.take() == 0
    control = Producer({**conf, "logger": logging.getLogger("test_bad_input.control")})
    seen = 0
    deadline = time.monotonic() + 60
    while not seen and time.monotonic() < deadline:
        control.poll(0.1)
        seen = listener.take()  # closes what it accepts, so the control's token request fails at once
    assert seen >= 1, "the control client never contacted the token endpoint"
