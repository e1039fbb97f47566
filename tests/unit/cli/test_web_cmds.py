"""labctl web: the lab's page on 127.0.0.1 behind the lab's token (403 without it), spice-html5's
and xterm.js's files and nothing beside them, each node's desktop and serial console pages with
their own websockify tokens, hostile values escaped. The pages are served for real (http.server and
Debian's websockify) over a fake backend's lab, and websockify relays to a unix socket and a TCP
port of the test; tests/integration/test_web.py loads them in Chromium against real VMs."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidHandshake
from websockets.sync.client import connect
from websockets.typing import Origin

from labctl.backends import registry
from labctl.backends.base import NodeInfo
from labctl.service import web
from labctl.service.webpage import desktop_page, lab_page, script_json, serial_page
from labctl.state import LabState
from tests.unit.cli.conftest import Cli
from tests.unit.cli.test_desktop_cmds import DisplayBackend
from tests.unit.cli.test_lab_cmds import running

HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>\"'&"


class ConsoleBackend(DisplayBackend):
    """A node's display, and the login console socket its record names (none when it names none)."""

    def node_info(self, state: LabState, node: str) -> NodeInfo:
        info = super().node_info(state, node)
        return NodeInfo(info.status, display=info.display, serial=state.nodes[node].get("serial"))


@pytest.fixture(autouse=True)
def backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._FACTORIES, "libvirt", ConsoleBackend)


def get(url: str, cookie: str = "") -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode(errors="replace"), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


# -- pure parts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "allowed"),
    [(["tok"], True), (["", "tok"], True), (["wrong"], False), ([""], False), ([], False), (["tok2"], False)],
)
def test_only_the_lab_s_token_is_allowed(offered: list[str], allowed: bool) -> None:
    assert web.token_allowed("tok", offered) is allowed


def test_static_files_come_from_their_folder_only(tmp_path: Path) -> None:
    root = tmp_path / "spice"
    (root / "lib").mkdir(parents=True)
    (root / "main.js").write_text("js")
    (root / "lib" / "a.js").write_text("a")
    (root / ".hidden").write_text("h")
    (tmp_path / "secret").write_text("s")
    (root / "link").symlink_to(tmp_path / "secret")
    assert web.static_file(root, "main.js") == (root / "main.js").resolve()
    assert web.static_file(root, "lib/a.js") == (root / "lib" / "a.js").resolve()
    for bad in ("", "/", "../secret", "lib/../../secret", ".hidden", "link", "lib", "nope.js", "a\\..\\b", "x\0"):
        assert web.static_file(root, bad) is None, bad


def test_the_token_file_names_each_display_and_serial_console() -> None:
    serial = web.serial_target("/state/lab/nodes/a.serial.sock")
    assert serial is not None
    targets = {("display", "b"): web.display_target(5901), ("serial", "a"): serial, ("display", "a"): "127.0.0.1:5900"}
    tokens = {("display", "a"): "ta", ("display", "b"): "tb", ("serial", "a"): "sa"}
    lines = web.token_lines(targets, tokens)
    assert lines == "ta: 127.0.0.1:5900\ntb: 127.0.0.1:5901\nsa: unix_socket:/state/lab/nodes/a.serial.sock\n"


@pytest.mark.parametrize(
    "path", ["relative.sock", "/a:b/c.sock", "/a/b: c.sock", "/a/b\nx: 127.0.0.1:22", "/a b/c.sock", "/a/\tc", "/a\0"]
)
def test_a_socket_path_the_token_file_cannot_hold_gets_no_token(path: str) -> None:
    """websockify splits a line at ': ', its target at the last ':', and reads one target a line."""
    assert web.serial_target(path) is None


def test_script_json_cannot_end_its_script() -> None:
    text = script_json({"password": HOSTILE})
    assert "<" not in text and ">" not in text and "&" not in text


def test_hostile_values_are_escaped_in_the_pages() -> None:
    data = {
        "lab": HOSTILE,
        "phase": HOSTILE,
        "accel": "tcg",
        "nodes": [
            {
                "name": HOSTILE,
                "roles": [HOSTILE],
                "state": HOSTILE,
                "address": HOSTILE,
                "spice": "spice://127.0.0.1:5900",
                "console": HOSTILE,
            }
        ],
    }
    result = dict.fromkeys(("check", "subject", "detail", "status"), HOSTILE)
    report = {"demo": HOSTILE, "counts": {HOSTILE: 1}, "results": [result]}
    for page in (lab_page(data, report, {HOSTILE}), desktop_page(HOSTILE, HOSTILE, HOSTILE, HOSTILE)):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert page.count("<script") == page.count("</script>") <= 1
    page = serial_page(HOSTILE, HOSTILE, HOSTILE)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("<script") == page.count("</script>") == 2  # xterm.js, then the page's own


def test_the_serial_console_page_and_its_links() -> None:
    page = serial_page("lab", "a", "ws://127.0.0.1:6080/?token=t")
    assert '<script src="/xterm/xterm.js"></script>' in page and 'href="/xterm/xterm.css"' in page
    assert 'const s = {"uri": "ws://127.0.0.1:6080/?token=t"}' in page
    assert "labctl secrets lab" in page and "autologin" not in page
    assert '<a href="/node/a/serial">serial console</a>' in desktop_page("lab", "a", "ws://x", "p")
    data = {
        "lab": "l",
        "phase": "up",
        "accel": "tcg",
        "nodes": [
            {
                "name": n,
                "roles": [],
                "state": "running",
                "address": "",
                "spice": None,
                "console": f"labctl console l/{n}",
            }
            for n in ("a", "b")
        ],
    }
    page = lab_page(data, None, {"a"})
    assert '<a href="/node/a/serial">in the browser</a>' in page and "/node/b/serial" not in page


def test_each_display_link_says_what_the_node_s_screen_shows() -> None:
    def node(name: str, display: str | None, spice: str | None = "spice://127.0.0.1:5900") -> dict[str, object]:
        row: dict[str, object] = {
            "name": name,
            "roles": [],
            "state": "running",
            "address": "",
            "spice": spice,
            "console": "",
        }
        return row | ({"display": display} if display is not None else {})

    nodes = [node("a", "desktop"), node("b", "text console"), node("c", None), node("d", "desktop", spice=None)]
    page = lab_page({"lab": "l", "phase": "up", "accel": "tcg", "nodes": nodes}, None)
    assert '<a href="/node/a">desktop</a>' in page and '<a href="/node/b">text console</a>' in page
    assert '<a href="/node/c">screen</a>' in page and "<td>no display</td>" in page


def test_a_lab_without_a_demo_report_says_so() -> None:
    data = {"lab": "l", "phase": "up", "accel": "tcg", "nodes": []}
    assert "No demo has run on this lab yet" in lab_page(data, None)


# -- served for real ---------------------------------------------------------------------------

needs_tools = pytest.mark.skipif(
    shutil.which("websockify") is None or not web.SPICE_HTML5.is_dir(),
    reason="needs Debian's websockify and spice-html5 (scripts/install.sh installs them)",
)


@needs_tools
def test_the_site_refuses_a_missing_or_wrong_token_and_serves_the_right_one() -> None:
    lab_state = running("lab", ("a", "off"))
    lab_state.nodes["off"]["display"] = None
    lab_state.save()
    with web.serving("lab") as site:
        base = f"http://127.0.0.1:{site.page_port}"
        for url in (f"{base}/", f"{base}/?token=wrong", f"{base}/?token=", f"{base}/spice/main.js", f"{base}/node/a"):
            status, body, _ = get(url)
            assert status == 403 and body.startswith("forbidden"), url
        assert get(f"{base}/", cookie=f"{web.COOKIE}=wrong")[0] == 403
        status, body, headers = get(site.url)
        assert status == 200 and "lab lab" in body and "/node/a" in body
        assert headers["Set-Cookie"] == f"{web.COOKIE}={site.token}; Path=/; HttpOnly; SameSite=Strict"
        cookie = f"{web.COOKIE}={site.token}"
        status, body, headers = get(f"{base}/spice/main.js", cookie)
        assert status == 200 and "SpiceMainConn" in body and headers["Content-Type"] == "text/javascript"
        for missing in ("/spice/../../../etc/passwd", "/spice/%2e%2e/%2e%2e/etc/passwd", "/nothing", "/node/nobody"):
            assert get(f"{base}{missing}", cookie)[0] == 404, missing
        status, body, _ = get(f"{base}/node/a", cookie)
        token = site.tokens["display", "a"]
        assert status == 200 and f"ws://127.0.0.1:{site.ws_port}/?token={token}" in body
        assert (site.folder / "tokens").read_text() == f"{token}: 127.0.0.1:5900\n"
        assert oct((site.folder / "tokens").stat().st_mode & 0o777) == "0o600"
        assert get(f"{base}/node/off", cookie)[0] == 409
        folder = site.folder
    assert not folder.exists()  # the token file went with the site


@needs_tools
def test_the_command_refuses_in_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("web", "nolab").stderr == "error: lab 'nolab' is not running (no lab is running)\n"
    running("lab", ("a",))
    run = cli("web", "lab", "--port", "70000")
    assert run.code == 1 and run.stderr == "error: port 70000 is not a TCP port (0 picks a free one)\n"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    run = cli("web", "lab")
    assert run.stderr == "error: `labctl web` serves the lab's SPICE password and is for root only; run it with sudo\n"


# -- the serial console, relayed for real --------------------------------------------------------


@contextlib.contextmanager
def echo(listener: socket.socket, prefix: bytes) -> Iterator[None]:
    """Answer each connection's bytes with `prefix` + the bytes, until the block ends."""
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(prefix + data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@needs_tools
def test_websockify_relays_a_serial_socket_and_a_display_side_by_side(tmp_path: Path) -> None:
    """A unix socket target and a TCP one through one websockify, one connection after the other
    (websockify keeps a unix target on its server object: each connection runs in its own process)."""
    serial = socket.socket(socket.AF_UNIX)
    serial.bind(str(tmp_path / "a.serial.sock"))
    display = socket.socket()
    display.bind(("127.0.0.1", 0))
    lab_state = running("lab", ("a", "b"))
    lab_state.nodes["a"]["serial"] = str(tmp_path / "a.serial.sock")
    lab_state.nodes["b"]["display"] = f"spice://127.0.0.1:{display.getsockname()[1]}"
    lab_state.save()
    with echo(serial, b"ttyS1:"), echo(display, b"spice:"), web.serving("lab") as site:
        base = f"http://127.0.0.1:{site.page_port}"
        cookie = f"{web.COOKIE}={site.token}"
        assert get(f"{base}/node/a/serial")[0] == 403
        status, body, _ = get(f"{base}/node/a/serial", cookie)
        assert status == 200 and site.websocket(("serial", "a")) in body
        assert site.tokens["serial", "a"] != site.tokens["display", "a"]
        assert get(f"{base}/node/b/serial", cookie)[0] == 409  # b has no login console
        assert get(f"{base}/node/a/other", cookie)[0] == 404
        assert f"unix_socket:{tmp_path / 'a.serial.sock'}" in (site.folder / "tokens").read_text()
        status, body, headers = get(f"{base}/xterm/xterm.js", cookie)
        assert status == 200 and "Terminal" in body and headers["Content-Type"] == "text/javascript"
        assert get(f"{base}/xterm/xterm.css", cookie)[0] == 200
        for outside in ("/xterm/../web.py", "/xterm/%2e%2e/web.py", "/xterm/", "/xterm/nope.js"):
            assert get(f"{base}{outside}", cookie)[0] == 404, outside
        assert get(f"{base}/xterm/xterm.js")[0] == 403
        get(f"{base}/node/b", cookie)  # b's display gets its token
        origin = Origin(f"http://127.0.0.1:{site.page_port}")
        for endpoint, answer in [
            (("serial", "a"), b"ttyS1:"),
            (("display", "b"), b"spice:"),
            (("serial", "a"), b"ttyS1:"),
        ]:
            with connect(site.websocket(endpoint), origin=origin, open_timeout=10) as ws:
                ws.send(b"\r")
                assert ws.recv(timeout=10) == answer + b"\r", endpoint
        wrong = f"ws://127.0.0.1:{site.ws_port}/?token=not-a-token"
        with pytest.raises(InvalidHandshake):  # websockify hangs up before it answers
            connect(wrong, origin=origin, open_timeout=10).close()
