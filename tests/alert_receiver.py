"""A real webhook receiver for the alert tests: an HTTP server that checks signatures.

It checks what a careful consumer would, with its own code (not panoray's): the HMAC-SHA256
of ``f"{timestamp}.".encode() + body`` under the shared secret, a timestamp within
``tolerance_s`` of its clock, and the Basic credentials when told to expect some. It
keeps every accepted request (``raw``) and the first of each ``event_id`` (``unique``),
as a consumer that de-duplicates would. It can be stopped and started again on the same
port, and can hold a request after recording it (to kill the sender in that window).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """The receiver's state and its server on 127.0.0.1:``port``.

    Args:
        port: the port to listen on.
        secret: the shared secret.
        tolerance_s: largest accepted distance of the timestamp from now.
        basic_auth: ``(user, password)`` the requests must carry, or None.
    """

    def __init__(
        self,
        port: int,
        secret: bytes,
        tolerance_s: float = 60.0,
        basic_auth: tuple[str, str] | None = None,
    ) -> None:
        self.port = port
        self.secret = secret
        self.tolerance_s = tolerance_s
        self.basic_auth = basic_auth
        self.raw: list[dict] = []
        self.unique: dict[str, dict] = {}
        self.rejected: list[str] = []
        self.hold = threading.Event()  # set: answer at once; clear: hold after recording
        self.hold.set()
        self.recorded = threading.Event()
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/panoray"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                problem = receiver.check(self.headers, body)
                if problem:
                    with receiver.lock:
                        receiver.rejected.append(problem)
                    self.send_response(401)
                    self.end_headers()
                    return
                message = json.loads(body)
                with receiver.lock:
                    receiver.raw.append(message)
                    receiver.unique.setdefault(message["event_id"], message)
                receiver.recorded.set()
                receiver.hold.wait(30)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def check(self, headers, body: bytes) -> str | None:
        """Returns why a request is refused, or None."""
        ts = headers.get("X-Panoray-Timestamp", "")
        sig = headers.get("X-Panoray-Signature", "")
        if not ts.isdigit():
            return "no timestamp"
        if abs(time.time() - int(ts)) > self.tolerance_s:
            return "stale timestamp"
        expected = "sha256=" + hmac.new(self.secret, ts.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig):
            return "bad signature"
        if headers.get("Content-Type") != "application/json":
            return "not json"
        event_id = json.loads(body)["event_id"]
        if headers.get("X-Panoray-Event-Id") != event_id:
            return "event id header differs from the body"
        if self.basic_auth is not None:
            raw = f"{self.basic_auth[0]}:{self.basic_auth[1]}".encode()
            if headers.get("Authorization") != "Basic " + base64.b64encode(raw).decode():
                return "bad credentials"
        return None

    def wait_for(self, count: int, timeout_s: float = 15.0) -> bool:
        """Waits until ``count`` distinct events arrived."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.unique) >= count:
                    return True
            time.sleep(0.02)
        return False
