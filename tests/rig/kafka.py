"""A real Apache Kafka cluster (KRaft) for development and tests, started from Maven Central artifacts.

The broker jars are fetched once with ``mvn dependency:copy-dependencies`` into ``.cache/kafka/<version>/lib``
(git ignores ``.cache``). Each node runs ``kafka.Kafka`` in combined mode (``process.roles=broker,controller``) on
free loopback ports with its data in a temporary directory, and logs to ``<workdir>/node-<id>/broker.log``.

The cluster is described by plain values (:class:`Listener`, :class:`ClusterSpec`), so a 3-node cluster or an extra
SASL/TLS listener is a different spec, not different code: every node gets one port per listener, and the
controller quorum lists every node.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rig.tls import TlsFiles, generate

KAFKA_VERSION = "4.3.1"
"""Pinned Apache Kafka release. (4.4.0's ``kafka-tools`` jar is not on Maven Central, so 4.3.1 it is.)"""

ConfigValue = str | int | float | bool
RIG_DIR = Path(__file__).resolve().parent
REPO_ROOT = RIG_DIR.parent.parent
CACHE_DIR = Path(os.environ.get("KAFKA_BACKUP_CACHE", REPO_ROOT / ".cache"))


@dataclass(frozen=True)
class KafkaEndpoint:
    """What a test needs of a cluster: where to connect, and where its logs are (none for an external cluster)."""

    bootstrap: str
    log_paths: list[Path] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    sasl_bootstrap: str | None = None
    """A SASL_PLAINTEXT listener accepting :data:`SASL_USERS` with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512."""
    ssl_bootstrap: str | None = None
    """An SSL listener (server certificate signed by ``tls.ca``, no client certificate asked for)."""
    mtls_bootstrap: str | None = None
    """An SSL listener with ``ssl.client.auth=required``: only clients presenting a certificate signed by ``tls.ca``."""
    tls: TlsFiles | None = None
    """The certificates of the SSL listeners (None for an external cluster)."""

    def client_config(self, extra: Mapping[str, ConfigValue] | None = None) -> dict[str, ConfigValue]:
        """A librdkafka configuration for this cluster, plus ``extra`` settings."""
        return {"bootstrap.servers": self.bootstrap, **(extra or {})}


class RigError(RuntimeError):
    """A rig component could not be provided; the message says what to install or where to look."""


def require_tool(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RigError(f"`{name}` is not installed: {install_hint}")
    return path


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports: every socket stays bound until all are chosen.

    Picked one at a time, a port released by one pick can come back from the next, and a server given both fails with
    "address already in use" (seen with the collector's receiver and its health_check extension).
    """
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


@contextmanager
def taken_port() -> Iterator[int]:
    """A loopback port another socket listens on for the duration (to provoke "address in use")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port: int = sock.getsockname()[1]
        yield port


def wait_for_port(port: int, deadline: float, host: str = "127.0.0.1") -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def stop_process(process: subprocess.Popen[bytes] | None, grace_s: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; nothing when it is not running."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def kafka_lib_dir(version: str = KAFKA_VERSION) -> Path:
    """Return the folder holding the broker's classpath, fetching it from Maven Central on first use."""
    lib = CACHE_DIR / "kafka" / version / "lib"
    marker = lib / ".complete"
    if marker.exists():
        return lib
    require_tool("java", "install a Java 17+ runtime, e.g. `apt-get install openjdk-17-jre-headless`")
    mvn = require_tool("mvn", "install Apache Maven, e.g. `apt-get install maven`")
    staging = lib.with_name(f"lib.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn, "-q", "-B", "-f", str(RIG_DIR / "pom.xml"), f"-Dkafka.version={version}",
        "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RigError(f"mvn could not fetch Apache Kafka {version}:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    (staging / ".complete").write_text(version)
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)  # atomic: a concurrent reader sees either no lib or a complete one
    return lib


def java_command(main_class: str, *args: str, heap: str = "512m", version: str = KAFKA_VERSION) -> list[str]:
    """A ``java`` command line running ``main_class`` from the Kafka classpath (also used for the perf tools)."""
    java = require_tool("java", "install a Java 17+ runtime, e.g. `apt-get install openjdk-17-jre-headless`")
    classpath = f"{kafka_lib_dir(version)}/*"
    log4j = f"-Dlog4j2.configurationFile={RIG_DIR / 'log4j2.yaml'}"
    return [java, f"-Xmx{heap}", "-XX:+UseG1GC", log4j, "-cp", classpath, main_class, *args]


SASL_USERS: Mapping[str, str] = {"alice": "alice-Secret-8d2f", "admin": "admin-Secret-41c9"}
"""Users of the SASL listener (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 all accept them)."""
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class Listener:
    """A client-facing listener. A SASL protocol enables PLAIN and SCRAM with :data:`SASL_USERS` on it; an SSL one
    presents the cluster's generated broker certificate and, with ``client_auth="required"``, demands a client
    certificate signed by the same CA (mTLS)."""

    name: str = "PLAINTEXT"
    security_protocol: str = "PLAINTEXT"
    properties: Mapping[str, str] = field(default_factory=dict)
    client_auth: Literal["none", "requested", "required"] = "none"

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def all_properties(self, tls: TlsFiles | None = None) -> dict[str, str]:
        props = dict(self.properties)
        if self.uses_tls:
            if tls is None:
                raise RigError(f"listener {self.name} uses TLS but the cluster generated no certificates")
            prefix = f"listener.name.{self.name.lower()}"
            props.update({
                f"{prefix}.ssl.keystore.type": "PEM",
                f"{prefix}.ssl.keystore.location": str(tls.broker_keystore),
                f"{prefix}.ssl.truststore.type": "PEM",
                f"{prefix}.ssl.truststore.location": str(tls.ca),
                f"{prefix}.ssl.client.auth": self.client_auth,
            })  # fmt: skip
        if self.security_protocol.startswith("SASL"):
            prefix = f"listener.name.{self.name.lower()}"
            users = " ".join(f'user_{u}="{p}"' for u, p in SASL_USERS.items())
            props[f"{prefix}.plain.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="admin" password="{SASL_USERS["admin"]}" {users};'
            )
            for mechanism in SCRAM_MECHANISMS:
                props[f"{prefix}.{mechanism.lower()}.sasl.jaas.config"] = (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                )
            props["sasl.enabled.mechanisms"] = ",".join(["PLAIN", *SCRAM_MECHANISMS])
        return props


SASL_LISTENER = Listener(name="SASL", security_protocol="SASL_PLAINTEXT")
SSL_LISTENER = Listener(name="SSL", security_protocol="SSL")
MTLS_LISTENER = Listener(name="MTLS", security_protocol="SSL", client_auth="required")


@dataclass(frozen=True)
class ClusterSpec:
    nodes: int = 1
    listeners: tuple[Listener, ...] = (Listener(), SASL_LISTENER, SSL_LISTENER, MTLS_LISTENER)
    broker_properties: Mapping[str, str] = field(default_factory=dict)
    heap: str = "768m"
    version: str = KAFKA_VERSION

    def has_sasl(self) -> bool:
        return any(lst.security_protocol.startswith("SASL") for lst in self.listeners)

    def has_tls(self) -> bool:
        return any(lst.uses_tls for lst in self.listeners)


@dataclass
class Node:
    node_id: int
    workdir: Path
    ports: dict[str, int]
    controller_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "broker.log"


class KafkaCluster:
    """Starts, describes and stops a local KRaft cluster."""

    def __init__(self, spec: ClusterSpec | None = None, workdir: Path | None = None) -> None:
        self.spec = spec or ClusterSpec()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="kafka-rig-"))
        self.cluster_id = str(uuid.uuid4().hex[:22])
        self.tls: TlsFiles | None = None
        names = [listener.name for listener in self.spec.listeners]
        ports = iter(free_ports(self.spec.nodes * (len(names) + 1)))
        self.nodes = [
            Node(
                node_id=i + 1,
                workdir=self.workdir / f"node-{i + 1}",
                ports={name: next(ports) for name in names},
                controller_port=next(ports),
            )
            for i in range(self.spec.nodes)
        ]

    def bootstrap(self, listener: str = "PLAINTEXT") -> str:
        return ",".join(f"127.0.0.1:{node.ports[listener]}" for node in self.nodes)

    @property
    def log_paths(self) -> list[Path]:
        return [node.log_path for node in self.nodes]

    def _properties(self, node: Node) -> dict[str, str]:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        listeners = [f"{lst.name}://127.0.0.1:{node.ports[lst.name]}" for lst in self.spec.listeners]
        protocol_map = [f"{lst.name}:{lst.security_protocol}" for lst in self.spec.listeners]
        replication = str(min(3, len(self.nodes)))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{node.controller_port}"]),
            "advertised.listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": self.spec.listeners[0].name,
            "listener.security.protocol.map": ",".join([*protocol_map, "CONTROLLER:PLAINTEXT"]),
            "log.dirs": str(node.workdir / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": replication,
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            # let tests exercise compaction and retention quickly
            "log.cleaner.backoff.ms": "1000",
            "log.retention.check.interval.ms": "1000",
        }
        tls = self._tls_files()
        for lst in self.spec.listeners:
            props.update(lst.all_properties(tls))
        props.update(self.spec.broker_properties)
        return props

    def _scram_args(self) -> list[str]:
        """SCRAM credentials are stored in the cluster metadata at format time (KRaft has no ZooKeeper to hold them)."""
        if not self.spec.has_sasl():
            return []
        return [
            arg
            for mechanism in SCRAM_MECHANISMS
            for user, password in SASL_USERS.items()
            for arg in ("--add-scram", f"{mechanism}=[name={user},password={password}]")
        ]

    def _tls_files(self) -> TlsFiles | None:
        """The cluster's certificates, generated on first use: one trust domain shared by every node and listener
        (half a second of `openssl`), none when no listener uses TLS."""
        if self.spec.has_tls() and self.tls is None:
            self.tls = generate(self.workdir / "tls")
        return self.tls

    def _first_bootstrap(self, wanted: Callable[[Listener], bool]) -> str | None:
        name = next((lst.name for lst in self.spec.listeners if wanted(lst)), None)
        return self.bootstrap(name) if name else None

    def endpoint(self) -> KafkaEndpoint:
        return KafkaEndpoint(
            bootstrap=self.bootstrap(),
            log_paths=self.log_paths,
            pids=[node.process.pid for node in self.nodes if node.process],
            sasl_bootstrap=self._first_bootstrap(lambda lst: lst.security_protocol.startswith("SASL")),
            ssl_bootstrap=self._first_bootstrap(
                lambda lst: lst.security_protocol == "SSL" and lst.client_auth == "none"
            ),
            mtls_bootstrap=self._first_bootstrap(
                lambda lst: lst.security_protocol == "SSL" and lst.client_auth == "required"
            ),
            tls=self.tls,
        )

    def start(self, timeout: float = 90.0) -> KafkaCluster:
        kafka_lib_dir(self.spec.version)
        for node in self.nodes:
            node.workdir.mkdir(parents=True, exist_ok=True)
            config = node.workdir / "server.properties"
            config.write_text("".join(f"{k}={v}\n" for k, v in self._properties(node).items()))
            fmt = java_command(
                "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(config), *self._scram_args(),
                heap="256m", version=self.spec.version,
            )  # fmt: skip
            result = subprocess.run(fmt, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RigError(f"formatting KRaft storage failed:\n{result.stdout}\n{result.stderr}")
        for node in self.nodes:
            cmd = java_command(
                "kafka.Kafka", str(node.workdir / "server.properties"), heap=self.spec.heap, version=self.spec.version
            )
            with node.log_path.open("wb") as log:
                node.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(time.monotonic() + timeout)
        return self

    def _wait_ready(self, deadline: float) -> None:
        from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - keeps `rig kafka fetch` importable without deps

        for node in self.nodes:
            port = node.ports[self.spec.listeners[0].name]
            if not wait_for_port(port, deadline) or (node.process and node.process.poll() is not None):
                self.stop()
                raise RigError(
                    f"broker {node.node_id} did not start; last lines of {node.log_path}:\n{tail(node.log_path)}"
                )
        admin = AdminClient({"bootstrap.servers": self.bootstrap()})
        while time.monotonic() < deadline:
            try:
                metadata = admin.list_topics(timeout=2)
                if len(metadata.brokers) == len(self.nodes):
                    return
            except Exception:  # noqa: S110 - not yet ready; retried until the deadline
                pass
            time.sleep(0.3)
        self.stop()
        raise RigError(f"cluster not ready in time; logs: {', '.join(map(str, self.log_paths))}")

    def stop(self, kill_timeout: float = 20.0) -> None:
        for node in self.nodes:
            if node.process and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.process:
                try:
                    node.process.wait(timeout=kill_timeout)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()

    # ---- faults: crash, restart and stall the nodes (for outage tests; a cluster of its own, not the session's) ----

    def kill(self) -> None:
        """SIGKILL every node: a crash, no shutdown (what the OS already holds of the data survives, as on a host
        where only the process died)."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.kill()
                node.process.wait()

    def restart(self, timeout: float = 90.0) -> None:
        """Start every node that is not running again, on the same data directory and ports; returns once the
        cluster answers metadata requests with all its brokers. The log goes on in the same file."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                continue
            cmd = java_command(
                "kafka.Kafka", str(node.workdir / "server.properties"), heap=self.spec.heap, version=self.spec.version
            )
            with node.log_path.open("ab") as log:
                node.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(time.monotonic() + timeout)

    def pause(self) -> None:
        """SIGSTOP every node: a stall (long GC pause, frozen VM); connections stay open and go unanswered."""
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT every node after :meth:`pause`."""
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, signum: signal.Signals) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signum)

    def state(self) -> dict[str, object]:
        return {
            "bootstrap": self.bootstrap(),
            "workdir": str(self.workdir),
            "pids": [node.process.pid for node in self.nodes if node.process],
            "logs": [str(p) for p in self.log_paths],
            "version": self.spec.version,
        }


# ---- commands a person can run: python -m rig kafka start|stop|status ----------------------------------------

STATE_FILE = CACHE_DIR / "run" / "kafka.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def read_state() -> dict[str, object] | None:
    if not STATE_FILE.exists():
        return None
    state: dict[str, object] = json.loads(STATE_FILE.read_text())
    pids = state.get("pids", [])
    if isinstance(pids, list) and pids and all(_alive(int(p)) for p in pids):
        return state
    return None


def cmd_start(nodes: int = 1) -> str:
    state = read_state()
    if state is not None:
        return str(state["bootstrap"])
    cluster = KafkaCluster(ClusterSpec(nodes=nodes), workdir=CACHE_DIR / "run" / "kafka-data")
    shutil.rmtree(cluster.workdir, ignore_errors=True)
    cluster.start()
    # Detach: the broker outlives this command; `stop` finds it through the state file.
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(cluster.state(), indent=2))
    return cluster.bootstrap()


def cmd_stop() -> bool:
    state = read_state()
    if state is None:
        STATE_FILE.unlink(missing_ok=True)
        return False
    pids = [int(p) for p in state["pids"]]  # type: ignore[attr-defined]
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    STATE_FILE.unlink(missing_ok=True)
    return True
