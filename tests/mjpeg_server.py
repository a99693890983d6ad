"""A small HTTP MJPEG server for tests (multipart/x-mixed-replace, like IP cameras serve).

It runs in a thread of the test process. ``stall_after`` makes it stop sending after that
many frames while keeping the connection open: a stream that stops sending, as a hung
camera does. Setting ``paused`` stops every stream until it is cleared (an outage).

Example:
    >>> with MjpegServer([jpeg_bytes], fps=10).start() as server:  # doctest: +SKIP
    ...     open_stream(server.url)
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOUNDARY = "panorayframe"


class MjpegServer:
    """Serves ``frames`` (JPEG bytes) in a loop at ``fps`` on 127.0.0.1.

    Args:
        frames: encoded JPEG images, sent in order and repeated.
        fps: frames per second sent to each client.
        stall_after: after this many frames per connection, stop sending but keep the
            connection open (None: never stall).
        path: URL path that serves the stream; other paths answer 404.
    """

    def __init__(
        self, frames: list[bytes], fps: float = 10.0, stall_after: int | None = None,
        path: str = "/video.mjpg",
    ) -> None:
        self.frames = frames
        self.fps = fps
        self.stall_after = stall_after
        self.path = path
        self.connections = 0
        self.paused = threading.Event()  # set: every connection stops sending until cleared
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                if self.path != server.path:
                    self.send_error(404)
                    return
                server.connections += 1
                self.send_response(200)
                self.send_header(
                    "Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}"
                )
                self.end_headers()
                sent = 0
                try:
                    while not server._stop.is_set():
                        if server.paused.is_set() or (
                                server.stall_after is not None and sent >= server.stall_after):
                            server._stop.wait(0.1)
                            continue
                        jpeg = server.frames[sent % len(server.frames)]
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                        )
                        self.wfile.write(jpeg + b"\r\n")
                        self.wfile.flush()
                        sent += 1
                        time.sleep(1.0 / server.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> MjpegServer:
        """Starts serving in a daemon thread; returns self."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stops serving and closes the listening socket."""
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> MjpegServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
