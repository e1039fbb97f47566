"""`labctl web LAB`: the lab in a browser, on 127.0.0.1 only, behind the lab's own token.

One HTTP server (the standard library's) serves the lab's page (webpage.py), its picture
(Graphviz), each node's desktop and serial console pages, spice-html5's files (Debian's
spice-html5, under /spice/) and xterm.js's (vendored in static/xterm, under /xterm/); one
websockify carries each node's SPICE display (a TCP port) and its login console (a unix socket)
to the browser, a random token per node and kind, its connections only from the page's own origin
(ExpectOrigin). A request without the lab's token (in the URL the command prints, then a cookie for
the same site) gets 403 and nothing else. Root only: the pages hold the lab's SPICE password."""

from __future__ import annotations

import contextlib
import ctypes
import hmac
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from labctl.backends.base import SPICE_SECRET
from labctl.backends.registry import backend_for
from labctl.compile.dot import plan_to_dot
from labctl.errors import LabctlError
from labctl.service.desktops import spice_port
from labctl.service.labs import require_state, status_data
from labctl.service.webpage import desktop_page, lab_page, serial_page
from labctl.state import LabState, lab_secrets
from labctl.state.lab_record import last_report
from labctl.state.saved_plan import saved_plan

WEB_SECRET = "web_token"  # the lab's page token, kept with its other secrets
COOKIE = "labctl_web"
SPICE_HTML5 = Path("/usr/share/spice-html5")
XTERM = Path(__file__).resolve().parent / "static" / "xterm"  # xterm.js 5.3.0, MIT (see its README.md)
WEBSOCKIFY = "websockify"
START_TIMEOUT = 10.0
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".png": "image/png"}


def token_allowed(token: str, offered: list[str]) -> bool:
    """Whether any offered value is the lab's token (pure; compared in constant time)."""
    return any(hmac.compare_digest(value.encode(), token.encode()) for value in offered if value)


def static_file(root: Path, relative: str) -> Path | None:
    """The regular file `relative` names under `root`, or None (nothing outside `root`, no hidden name)."""
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        return None
    path = root.joinpath(*parts)
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
        return None
    return resolved


DISPLAY = "display"
SERIAL = "serial"
Endpoint = tuple[str, str]  # (DISPLAY or SERIAL, node)


def display_target(port: int) -> str:
    return f"127.0.0.1:{port}"


def serial_target(socket_path: str) -> str | None:
    """websockify's target for a unix socket, None when its TokenFile cannot hold the path (pure): it
    splits a line at ': ' and the target at its last ':', and reads one line per target."""
    unsafe = ":" in socket_path or not socket_path.isprintable() or any(c.isspace() for c in socket_path)
    return None if unsafe or not socket_path.startswith("/") else f"unix_socket:{socket_path}"


def token_lines(targets: dict[Endpoint, str], tokens: dict[Endpoint, str]) -> str:
    """websockify's TokenFile: one `token: target` per display and serial console (pure)."""
    return "".join(f"{tokens[endpoint]}: {target}\n" for endpoint, target in sorted(targets.items()))


@dataclass
class Site:
    state: LabState
    token: str
    spice_password: str
    folder: Path  # private: websockify's token file and log
    page_port: int = 0
    ws_port: int = 0
    tokens: dict[Endpoint, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.page_port}/?token={self.token}"

    def targets(self) -> dict[Endpoint, str]:
        """Each node's SPICE port and login console socket now (a node started again has another port)."""
        backend = backend_for(self.state)
        found = {}
        for node in self.state.nodes:
            info = backend.node_info(self.state, node)
            if info.display is not None:
                found[DISPLAY, node] = display_target(spice_port(info.display))
            serial = serial_target(info.serial) if info.serial is not None else None
            if serial is not None:
                found[SERIAL, node] = serial
        return found

    def write_tokens(self) -> dict[Endpoint, str]:
        targets = self.targets()
        with self.lock:
            for endpoint in targets:
                self.tokens.setdefault(endpoint, secrets.token_urlsafe(24))
            path = self.folder / "tokens"
            fd = os.open(path.with_suffix(".new"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(token_lines(targets, self.tokens))
            os.replace(path.with_suffix(".new"), path)
        return targets

    def websocket(self, endpoint: Endpoint) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/?token={self.tokens[endpoint]}"


class Handler(BaseHTTPRequestHandler):
    server: SiteServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # the terminal stays quiet; the browser shows what failed

    def _send(self, status: HTTPStatus, body: bytes, kind: str, cookie: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if cookie is not None:
            self.send_header("Set-Cookie", f"{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict")
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status: HTTPStatus, text: str) -> None:
        self._send(status, (text + "\n").encode(), "text/plain; charset=utf-8")

    def _cookie_token(self) -> str:
        try:
            jar = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            return ""
        morsel = jar.get(COOKIE)
        return morsel.value if morsel is not None else ""

    def do_GET(self) -> None:
        site = self.server.site
        url = urlsplit(self.path)
        offered = parse_qs(url.query).get("token", [])
        if not token_allowed(site.token, [*offered, self._cookie_token()]):
            self._text(HTTPStatus.FORBIDDEN, "forbidden: open the URL `labctl web` printed (it holds the lab's token)")
            return
        cookie = site.token if offered else None
        path = unquote(url.path)
        try:
            if path == "/":
                consoles = {node for kind, node in site.write_tokens() if kind == SERIAL}
                page = lab_page(status_data(site.state), _report(site.state.lab), consoles)
                self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8", cookie)
            elif path == "/graph.svg":
                self._send(HTTPStatus.OK, _svg(site.state), "image/svg+xml", cookie)
            elif path.startswith("/node/"):
                self._node(site, path.removeprefix("/node/"), cookie)
            elif path.startswith("/spice/"):
                self._static(SPICE_HTML5, path.removeprefix("/spice/"))
            elif path.startswith("/xterm/"):
                self._static(XTERM, path.removeprefix("/xterm/"))
            else:
                self._text(HTTPStatus.NOT_FOUND, "not found")
        except LabctlError as exc:
            self._text(HTTPStatus.INTERNAL_SERVER_ERROR, f"error: {exc}")

    def _node(self, site: Site, rest: str, cookie: str | None) -> None:
        """/node/NODE: its desktop; /node/NODE/serial: its login console."""
        node, _, view = rest.partition("/")
        if node not in site.state.nodes or view not in ("", SERIAL):
            self._text(HTTPStatus.NOT_FOUND, "no such node" if node not in site.state.nodes else "not found")
            return
        endpoint = (SERIAL if view else DISPLAY, node)
        if endpoint not in site.write_tokens():
            what = "serial console (a node started before labctl gave nodes one has none)" if view else "display"
            self._text(HTTPStatus.CONFLICT, f"node {node} has no {what} now (is it running?)")
            return
        if view:
            page = serial_page(site.state.lab, node, site.websocket(endpoint))
        else:
            page = desktop_page(site.state.lab, node, site.websocket(endpoint), site.spice_password)
        self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8", cookie)

    def _static(self, root: Path, relative: str) -> None:
        found = static_file(root, relative)
        if found is None:
            self._text(HTTPStatus.NOT_FOUND, "not found")
            return
        self._send(HTTPStatus.OK, found.read_bytes(), STATIC_TYPES.get(found.suffix, "application/octet-stream"))


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Site, port: int) -> None:
        self.site = site
        super().__init__(("127.0.0.1", port), Handler)


def _report(lab: str) -> dict[str, object] | None:
    record = last_report(lab)
    report = record.get("report") if record else None
    return report if isinstance(report, dict) else None


def _svg(state: LabState) -> bytes:
    if shutil.which("dot") is None:
        raise LabctlError("Graphviz 'dot' is not installed (apt install graphviz)")
    drawn = subprocess.run(["dot", "-Tsvg"], input=plan_to_dot(saved_plan(state)).encode(), capture_output=True)
    if drawn.returncode != 0:
        raise LabctlError(f"graphviz failed: {drawn.stderr.decode(errors='replace').strip()}")
    return drawn.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _requirements() -> None:
    if os.geteuid() != 0:
        raise LabctlError("`labctl web` serves the lab's SPICE password and is for root only; run it with sudo")
    found = {"websockify": shutil.which(WEBSOCKIFY) is not None, "spice-html5": SPICE_HTML5.is_dir()}
    missing = [package for package, ok in found.items() if not ok]
    if missing:
        raise LabctlError(f"`labctl web` needs {' and '.join(missing)} (apt install {' '.join(missing)})")


def _die_with_parent() -> None:
    """In the child: the kernel sends it SIGTERM when labctl dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _start_websockify(site: Site) -> subprocess.Popen[bytes]:
    log = open(site.folder / "websockify.log", "wb")  # noqa: SIM115 (the process keeps it)
    argv = [
        WEBSOCKIFY,
        "--token-plugin",
        "TokenFile",
        "--token-source",
        str(site.folder / "tokens"),
        "--auth-plugin",
        "ExpectOrigin",
        "--auth-source",
        f"http://127.0.0.1:{site.page_port}",
        f"127.0.0.1:{site.ws_port}",
    ]
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (site.folder / "websockify.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise LabctlError(f"websockify stopped at once: {' '.join(tail) or f'exit code {process.returncode}'}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", site.ws_port), timeout=1):
            return process
        time.sleep(0.1)
    process.kill()
    raise LabctlError(f"websockify did not listen on 127.0.0.1:{site.ws_port} within {START_TIMEOUT:.0f} s")


@contextlib.contextmanager
def serving(lab: str, port: int = 0) -> Iterator[Site]:
    """Serve the lab's page until the block ends; everything it started stops with it."""
    _requirements()
    state = require_state(lab)
    if not 0 <= port <= 65535:
        raise LabctlError(f"port {port} is not a TCP port (0 picks a free one)")
    made = lab_secrets(state.lab, (WEB_SECRET, SPICE_SECRET))
    with tempfile.TemporaryDirectory(prefix=f"labctl-web-{state.lab}-") as folder:  # 0700
        site = Site(state, made[WEB_SECRET], made[SPICE_SECRET], Path(folder))
        try:
            server = SiteServer(site, port)
        except OSError as exc:
            raise LabctlError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
        with server:
            site.page_port = server.server_address[1]
            site.ws_port = _free_port()
            site.write_tokens()
            websockify = _start_websockify(site)
            thread = threading.Thread(target=server.serve_forever, name="labctl-web", daemon=True)
            thread.start()
            try:
                yield site
            finally:
                server.shutdown()
                websockify.terminate()
                try:
                    websockify.wait(5)
                except subprocess.TimeoutExpired:
                    websockify.kill()
                    websockify.wait()
