"""Browser view: an MJPEG stream of the frames plus a JSON status endpoint.

Served with the standard library's ThreadingHTTPServer: MJPEG is plain HTTP
(multipart/x-mixed-replace), which every browser shows in an <img> with no
script, so no web framework or WebRTC stack is needed. One thread per client
is fine for a kiosk page with a handful of viewers.

Routes: ``/`` the page (core/web/index.html), ``/stream.mjpg`` the frames,
``/status.json`` state, FPS, latency and A/V offset. The speech audio plays on
the host's speaker (face_display's AudioOutput), not in the browser.

The view is a :class:`~avatar.core.av_sync.Presenter` sink: ``show(jpeg)`` is
called when a frame is due and every connected client gets it at once.
"""
import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from avatar.core.errors import AvatarError
from avatar.core.jpeg_encoder import encode_jpeg  # noqa: F401 - face_display and tests import it from here

PAGE = Path(__file__).with_name("web") / "index.html"
BOUNDARY = "avatarframe"


class LatestFrame:
    """The newest JPEG and its sequence number; clients wait for the next one."""

    def __init__(self):
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self.closed = False

    def put(self, jpeg: bytes) -> None:
        with self._cond:
            self._jpeg, self._seq = jpeg, self._seq + 1
            self._cond.notify_all()

    def wait_newer(self, seq: int, timeout: float) -> tuple[int, bytes | None]:
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self.closed, timeout)
            return self._seq, (self._jpeg if self._seq > seq else None)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE.read_bytes())
        elif path == "/status.json":
            self._send(HTTPStatus.OK, "application/json", json.dumps(self.server.status_fn()).encode())
        elif path == "/stream.mjpg":
            self._stream()
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def _send(self, status: HTTPStatus, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        latest, seq = self.server.latest, 0
        try:
            while not latest.closed:
                seq, jpeg = latest.wait_newer(seq, timeout=1.0)
                if jpeg is None:
                    continue
                head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n").encode()
                self.wfile.write(head + jpeg + b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away

    def log_message(self, format, *args) -> None:  # noqa: A002 - http.server's signature
        pass  # one line per request would flood the node's log


class _Server(ThreadingHTTPServer):
    daemon_threads = True   # open MJPEG streams must not block shutdown

    def __init__(self, addr, latest: LatestFrame, status_fn: Callable[[], dict]):
        super().__init__(addr, _Handler)
        self.latest, self.status_fn = latest, status_fn


class WebView:
    """HTTP server on its own thread; also a Presenter sink (payload = JPEG bytes)."""

    def __init__(self, host: str, port: int, status_fn: Callable[[], dict]):
        self.latest = LatestFrame()
        try:
            self._server = _Server((host, port), self.latest, status_fn)
        except OSError as err:
            raise AvatarError(f"cannot serve on {host}:{port}: {err.strerror or err}") from err
        self._thread = threading.Thread(target=self._server.serve_forever, name="web_view", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    # Presenter sink
    def open(self) -> None:
        pass

    def show(self, jpeg: bytes) -> None:
        self.latest.put(jpeg)

    def poll(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def shutdown(self) -> None:
        self.latest.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2.0)
