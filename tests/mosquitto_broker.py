"""A real MQTT broker for the tests: Debian's mosquitto, started on a free loopback port.

Persistence is on, so a subscriber's persistent session and its queued QoS 1 messages
survive :meth:`Broker.stop` and :meth:`Broker.start` (mosquitto saves them on SIGTERM).
:func:`make_certificates` makes a throwaway CA, server and client certificate with
openssl for the TLS tests.
"""

from __future__ import annotations

import getpass
import json
import pathlib
import shutil
import signal
import socket
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import require_system

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def require_mosquitto() -> None:
    require_system(MOSQUITTO, "the MQTT sink tests run a real broker")


class Broker:
    """One mosquitto process and its config in ``folder``.

    Args:
        folder: where the config, persistence file and log go.
        port: the port to listen on (127.0.0.1).
        tls: ``{"cafile", "certfile", "keyfile"}`` paths for a TLS listener; with
            ``require_certificate`` clients must present a certificate the CA signed.
        users: user name -> password; set: anonymous clients are refused.
    """

    def __init__(
        self,
        folder: pathlib.Path,
        port: int,
        tls: dict[str, pathlib.Path] | None = None,
        require_certificate: bool = False,
        users: dict[str, str] | None = None,
    ) -> None:
        self.folder = folder
        self.port = port
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f"user {getpass.getuser()}",  # as root: stay root (the default drops to 'mosquitto')
            f"listener {port} 127.0.0.1",
            "persistence true",
            f"persistence_location {folder}/",
            f"log_dest file {folder}/mosquitto.log",
            "log_type all",
        ]
        if tls:
            lines += [f"cafile {tls['cafile']}", f"certfile {tls['certfile']}",
                      f"keyfile {tls['keyfile']}",
                      f"require_certificate {'true' if require_certificate else 'false'}"]
        if users:
            pwfile = folder / "passwords"
            pwfile.write_text("")
            for user, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pwfile), user, password], check=True)
            pwfile.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"mosquitto exited with {self.proc.returncode}: "
                            f"{self.proc.stderr.read().decode()}\n{self.log()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        self.stop()
        pytest.fail(f"mosquitto did not listen on {self.port} within {timeout_s} s\n{self.log()}")

    def stop(self) -> None:
        """Stops the broker cleanly (SIGTERM: it saves its persistent sessions)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text()[-3000:] if path.exists() else ""


def make_certificates(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """A CA, a server certificate for ``localhost`` only and a client certificate (EC P-256).

    Returns:
        Paths: ``ca``, ``server_cert``, ``server_key``, ``client_cert``, ``client_key``,
        and ``other_ca`` (a CA that signed nothing here).
    """
    require_system("openssl", "the MQTT TLS tests make throwaway certificates")
    folder.mkdir(parents=True, exist_ok=True)
    p = {name: folder / name for name in (
        "ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key",
        "other-ca.pem", "other-ca.key")}
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    for name in ("ca", "other-ca"):
        run("req", "-x509", *key, "-keyout", str(p[f"{name}.key"]), "-out", str(p[f"{name}.pem"]),
            "-days", "2", "-subj", f"/CN=panoray test {name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, ext in (("server", "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        csr = folder / f"{name}.csr"
        extfile = folder / f"{name}.ext"
        extfile.write_text(ext + "\n")
        run("req", *key, "-keyout", str(p[f"{name}.key"]), "-out", str(csr),
            "-subj", f"/CN=panoray test {name}")
        run("x509", "-req", "-in", str(csr), "-CA", str(p["ca.pem"]), "-CAkey", str(p["ca.key"]),
            "-CAcreateserial", "-out", str(p[f"{name}.pem"]), "-days", "2",
            "-extfile", str(extfile))
    return {"ca": p["ca.pem"], "server_cert": p["server.pem"], "server_key": p["server.key"],
            "client_cert": p["client.pem"], "client_key": p["client.key"],
            "other_ca": p["other-ca.pem"]}


class Subscriber:
    """A real MQTT client that records what it receives.

    Args:
        port: the broker's port.
        topic: the subscription (QoS 1).
        client_id: set: a persistent session (kept by the broker while disconnected).
    """

    def __init__(self, port: int, topic: str, client_id: str | None = None) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or "",
            clean_session=client_id is None,
        )
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the subscription was not acknowledged"

    def _on_message(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append(message)

    def payloads(self) -> list[dict]:
        with self.lock:
            return [json.loads(m.payload) for m in self.messages if m.payload]

    def wait_for(self, predicate, timeout_s: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(list(self.messages)):
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
