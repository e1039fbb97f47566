"""labctl web on real VMs, seen by a real browser (Debian's headless Chromium): the lab's page with
its picture and nodes renders; a node's serial console page shows the node's login prompt and logs
root in with the lab's password; a node's desktop page connects to its SPICE display through
websockify and draws the node's screen; a request without the lab's token, or with a wrong one,
and a serial console websocket with a wrong token are refused. Screenshots are read back with
tests/integration/png.py."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser import CHROMIUM, Page, browser
from tests.integration.lab import ROOT, labctl, running_lab, write_topology
from tests.integration.png import colours, read_png, rendered

LAB = "webduo"
TOPOLOGY = f"""
name: {LAB}
description: two hosts on one LAN, seen in a browser
defaults: {{memory: 256}}
nodes: {{a: {{}}, b: {{}}}}
lans: {{net: [a, b]}}
addressing: {{lan: 10.81.0.0/16}}
"""
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (scripts/install.sh installs it)")
WIDTH, HEIGHT = 1100, 900


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    topology = write_topology(tmp_path_factory.mktemp("web"), LAB, TOPOLOGY)
    with running_lab(topology, "--no-verify") as (plan, up):
        assert up.returncode == 0, up.stderr
        argv = [sys.executable, "-m", "labctl", "web", LAB]
        server = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            first = server.stdout.readline()
            found = re.search(r"(http://127\.0\.0\.1:(\d+)/)\?token=(\S+)", first)
            assert found, (first, server.stderr.read() if server.poll() is not None and server.stderr else "")
            yield {"base": found[1], "token": found[3], "url": found[0], "plan": plan}
        finally:
            server.send_signal(signal.SIGTERM)
            assert server.wait(10) == 0
    assert subprocess.run(["pgrep", "-f", "websockify.*labctl-web-"], capture_output=True).returncode == 1


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with browser(WIDTH, HEIGHT) as opened:
        yield opened


def test_without_the_token_nothing_is_served(site: dict[str, Any], page: Page) -> None:
    base = site["base"]
    for path in ("", "?token=wrong", "graph.svg", "node/a", "node/a/serial", "spice/main.js", "xterm/xterm.js"):
        assert status(base + path) == 403, path
    page.goto(base)
    text = page.evaluate("document.body.innerText")
    assert text.startswith("forbidden") and "webduo" not in text


def test_the_lab_page_renders_its_picture_nodes_and_states(site: dict[str, Any], page: Page, tmp_path: Path) -> None:
    page.goto(site["url"])
    graph = "document.querySelector('img.graph')"
    assert page.wait_for(f"{graph} && {graph}.naturalWidth > 0", 30), "the lab's picture did not load"
    text = page.evaluate("document.body.innerText")
    assert "lab webduo" in text and text.count("running") == 2 and text.count("text console") == 2  # display links
    assert page.evaluate("[...document.querySelectorAll('a')].map(a => a.getAttribute('href')).join(' ')") == (
        "/node/a /node/a/serial /node/b /node/b/serial"
    )
    width, height, rows = read_png(page.screenshot(tmp_path / "lab.png"))
    assert (width, height) == (WIDTH, HEIGHT)
    assert rendered(colours(rows), dominant_max=0.97, distinct_min=16), "the lab's page looks blank"


TERMINAL_TEXT = """(() => {
  const b = window.term.buffer.active;
  const lines = [];
  for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
  return lines.join('\\n');
})()"""


def press_enter(page: Page) -> None:
    keys = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
    page.call("Input.dispatchKeyEvent", type="keyDown", text="\r", **keys)
    page.call("Input.dispatchKeyEvent", type="keyUp", **keys)


def type_line(page: Page, text: str) -> None:
    page.call("Input.insertText", text=text)
    press_enter(page)


def test_a_node_s_serial_console_shows_its_login_prompt_and_logs_root_in(
    site: dict[str, Any], page: Page, tmp_path: Path
) -> None:
    page.goto(site["base"] + "node/a/serial")  # the cookie the lab's page set lets it in
    status = "document.getElementById('status').textContent"
    assert page.wait_for(f"{status} === 'connected'", 30), page.evaluate(status)
    press_enter(page)  # the getty prints its prompt again
    assert page.wait_for(f"/a login: *$/.test({TERMINAL_TEXT}.trimEnd())", 60), page.evaluate(TERMINAL_TEXT)
    box = page.evaluate(
        "(r => [r.left, r.top, r.right, r.bottom])(document.querySelector('.xterm-screen').getBoundingClientRect())"
    )
    left, top, right, bottom = (int(v) for v in box)
    _, _, rows = read_png(page.screenshot(tmp_path / "serial.png"))
    screen = colours(rows, (left, top, min(right, WIDTH), min(bottom, HEIGHT)))
    dark = sum(n for (r, g, b), n in screen.items() if r + g + b < 60)
    light = sum(n for (r, g, b), n in screen.items() if r + g + b > 500)
    assert dark > 0.8 * sum(screen.values()) and light > 0, "the terminal is not light text on black"
    assert rendered(screen, dominant_max=0.999, distinct_min=2), "the terminal shows nothing"
    # root logs in with the lab's password: the getty on ttyS1 is a real login
    password = json.loads(labctl("secrets", LAB, "--json").stdout)["secrets"]["root_password"]
    type_line(page, "root")
    assert page.wait_for(f"/Password: *$/.test({TERMINAL_TEXT}.trimEnd())", 30), page.evaluate(TERMINAL_TEXT)
    type_line(page, password)
    assert page.wait_for(f"/root@a:~# *$/.test({TERMINAL_TEXT}.trimEnd())", 60), page.evaluate(TERMINAL_TEXT)
    type_line(page, "tty; exit")
    assert page.wait_for(f"{TERMINAL_TEXT}.includes('/dev/ttyS1')", 30), page.evaluate(TERMINAL_TEXT)
    assert page.wait_for(f"/a login: *$/.test({TERMINAL_TEXT}.trimEnd())", 60), "the session did not end"


WRONG_SERIAL_TOKEN = """
window.control = {opened: false, bytes: 0, closed: false};
const control = new WebSocket(s.uri.replace(/token=[^&]+/, 'token=not-a-token'));
control.binaryType = 'arraybuffer';
control.onopen = () => { window.control.opened = true; };
control.onmessage = e => { window.control.bytes += e.data.byteLength; };
control.onclose = () => { window.control.closed = true; };
"""


def test_a_wrong_serial_token_gets_no_console(site: dict[str, Any], page: Page) -> None:
    """The negative control of the test above: the same page and websockify, another token."""
    page.goto(site["base"] + "node/b/serial")
    assert page.wait_for("document.getElementById('status').textContent === 'connected'", 30)
    page.call("Runtime.evaluate", expression=WRONG_SERIAL_TOKEN)
    assert page.wait_for("window.control.closed", 30), "the control connection never ended"
    assert page.evaluate("window.control.opened") is False and page.evaluate("window.control.bytes") == 0


def test_a_node_s_desktop_connects_and_draws_its_screen(site: dict[str, Any], page: Page, tmp_path: Path) -> None:
    page.goto(site["base"] + "node/a")  # the cookie the lab's page set lets it in
    assert page.wait_for("document.getElementById('status').textContent === 'connected'", 60), page.evaluate(
        "document.getElementById('status').textContent"
    )
    canvas = "document.getElementById('spice_surface_0')"
    assert page.wait_for(f"{canvas} && {canvas}.width > 0", 60), "spice-html5 made no canvas for the display"
    box = page.evaluate(f"(r => [r.left, r.top, r.right, r.bottom])({canvas}.getBoundingClientRect())")
    left, top, right, bottom = (int(v) for v in box)
    time.sleep(3)  # the first screen update
    _, _, rows = read_png(page.screenshot(tmp_path / "desktop.png"))
    screen = colours(rows, (left, top, min(right, WIDTH), min(bottom, HEIGHT)))
    dark = sum(n for (r, g, b), n in screen.items() if r + g + b < 60)
    assert dark > 0.5 * sum(screen.values()), "the canvas is not the node's dark text console"
    assert rendered(screen, dominant_max=0.999, distinct_min=2), "the node's screen shows nothing"


WRONG_PASSWORD = """
(async () => {
  const Spice = await import('/spice/main.js');
  const uri = document.querySelector('script[type=module]').textContent.match(/"uri": "([^"]+)"/)[1];
  const area = document.createElement('div');
  area.id = 'control';
  document.body.appendChild(area);
  window.control = 'waiting';
  new Spice.SpiceMainConn({uri: uri, screen_id: 'control', password: 'not-the-password',
    onsuccess: () => { window.control = 'connected'; }, onerror: e => { window.control = 'error: ' + e; }});
})()
"""


def test_a_wrong_spice_password_gets_no_screen(site: dict[str, Any], page: Page) -> None:
    """The negative control of the test above: the same page and websocket, another password."""
    page.goto(site["base"] + "node/b")
    assert page.wait_for("document.getElementById('status').textContent === 'connected'", 60), page.evaluate(
        "document.getElementById('status').textContent"
    )
    page.call("Runtime.evaluate", expression=WRONG_PASSWORD, awaitPromise=True)
    assert page.wait_for("window.control !== 'waiting'", 30), "the control connection never ended"
    assert str(page.evaluate("window.control")).startswith("error"), page.evaluate("window.control")
    assert page.evaluate("document.querySelector('#control canvas')") is None


def test_json_status_lists_every_node_s_display(site: dict[str, Any]) -> None:
    data = json.loads(labctl("status", LAB, "--json").stdout)
    assert all(n["spice"].startswith("spice://127.0.0.1:") for n in data["nodes"])
