"""labctl web on real VMs, seen by a real browser (Debian's headless Chromium): the lab's page with
its picture and nodes renders; a node's desktop page connects to its SPICE display through
websockify and draws the node's screen; a request without the lab's token, or with a wrong one,
is refused. Screenshots are read back with tests/integration/png.py."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
BROWSER = shutil.which("chromium")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="needs Debian's chromium (scripts/install.sh installs it)")
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


def browse(url: str, out: Path, wait_ms: int = 20000) -> tuple[str, Path]:
    """The page's DOM after `wait_ms` of its own time, and a screenshot of it."""
    common = [
        BROWSER or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--virtual-time-budget={wait_ms}",
        f"--user-data-dir={out.parent / 'profile'}",
    ]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    subprocess.run([*common, f"--screenshot={out}", url], capture_output=True, timeout=120, check=True)
    return dom, out


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_without_the_token_nothing_is_served(site: dict[str, Any], tmp_path: Path) -> None:
    base = site["base"]
    for path in ("", "?token=wrong", "graph.svg", "node/a", "spice/main.js"):
        assert status(base + path) == 403, path
    dom, _ = browse(base, tmp_path / "forbidden.png", wait_ms=2000)
    assert "forbidden" in dom and "webduo" not in dom


def test_the_lab_page_renders_its_picture_nodes_and_states(site: dict[str, Any], tmp_path: Path) -> None:
    dom, shot = browse(site["url"], tmp_path / "lab.png", wait_ms=3000)
    assert "lab webduo" in dom and 'href="/node/a"' in dom and 'href="/node/b"' in dom
    assert dom.count(">running<") == 2
    width, height, rows = read_png(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    assert rendered(colours(rows), dominant_max=0.97, distinct_min=16), "the lab's page looks blank"


def test_a_node_s_desktop_connects_and_draws_its_screen(site: dict[str, Any], tmp_path: Path) -> None:
    node_url = site["base"] + "node/a?token=" + site["token"]
    dom, shot = browse(node_url, tmp_path / "desktop.png")
    assert 'id="status" class="note">connected<' in dom, dom[:2000]
    assert "spice_surface" in dom  # spice-html5 made the display's canvas
    _, _, rows = read_png(shot)
    screen = colours(rows, (0, 120, 640, 520))  # the top left of the node's 720x400 text console
    dark = sum(n for (r, g, b), n in screen.items() if r + g + b < 60)
    assert dark > 0.5 * sum(screen.values()), "no console drawn: the canvas area is not the node's dark screen"
    assert rendered(screen, dominant_max=0.999, distinct_min=2), "the node's screen shows nothing"


def test_json_status_lists_every_node_s_display(site: dict[str, Any]) -> None:
    data = json.loads(labctl("status", LAB, "--json").stdout)
    assert all(n["spice"].startswith("spice://127.0.0.1:") for n in data["nodes"])
