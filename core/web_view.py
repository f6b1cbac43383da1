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

Exposure: it has no authentication, so binding anything but a loopback address
needs ``allow_remote`` (else AvatarError at start). Requests whose Host header
names something other than the bound address, localhost or 127.0.0.1 get 403, so
a web page on another site cannot reach it by DNS rebinding (an IP literal is not
rebindable, so any is accepted when bound to all interfaces).
"""
import ipaddress
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


LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False        # a host name other than localhost may resolve anywhere


def check_exposure(host: str, allow_remote: bool) -> bool:
    """Whether serving on ``host`` exposes the view beyond this machine; AvatarError if it would
    and ``allow_remote`` is false."""
    if is_loopback(host):
        return False
    if not allow_remote:
        raise AvatarError(f"web view host {host!r} is reachable from the network and has no authentication; "
                          "set allow_remote:=true to serve on it anyway, or use 127.0.0.1")
    return True


def _host_of(header: str) -> str:
    """The host part of a Host header: "[::1]:8080" -> "::1", "example.com:80" -> "example.com"."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str | None, bound: str) -> bool:
    """Whether a request's Host header (any port) names this server: the bound address,
    localhost/127.0.0.1, or, when bound to all interfaces, any IP address literal."""
    if not header:
        return False
    host = _host_of(header)
    if host in LOCAL_NAMES or host == bound.lower():
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return bound in ("0.0.0.0", "::", "")


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
        if not host_allowed(self.headers.get("Host"), self.server.bound_host):
            self._send(HTTPStatus.FORBIDDEN, "text/plain", b"forbidden: unexpected Host header\n")
        elif path in ("/", "/index.html"):
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
        self.bound_host = addr[0]


class WebView:
    """HTTP server on its own thread; also a Presenter sink (payload = JPEG bytes)."""

    def __init__(self, host: str, port: int, status_fn: Callable[[], dict], allow_remote: bool = False):
        self.remote = check_exposure(host, allow_remote)
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

    @property
    def port(self) -> int:
        return self._server.server_address[1]

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
