"""labctl web: the lab's page on 127.0.0.1 behind the lab's token (403 without it), spice-html5's
files and nothing beside them, each node's desktop page with its own websockify token, hostile
values escaped. The pages are served for real (http.server and Debian's websockify) over a fake
backend's lab; tests/integration/test_web.py loads them in Chromium against real VMs."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from labctl.backends import registry
from labctl.service import web
from labctl.service.webpage import desktop_page, lab_page, script_json
from tests.unit.cli.conftest import Cli
from tests.unit.cli.test_desktop_cmds import DisplayBackend
from tests.unit.cli.test_lab_cmds import running

HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>\"'&"


@pytest.fixture(autouse=True)
def backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._FACTORIES, "libvirt", DisplayBackend)


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


def test_the_token_file_names_each_display() -> None:
    lines = web.token_lines({"b": 5901, "a": 5900}, {"a": "ta", "b": "tb"})
    assert lines == "ta: 127.0.0.1:5900\ntb: 127.0.0.1:5901\n"


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
    for page in (lab_page(data, report), desktop_page(HOSTILE, HOSTILE, HOSTILE, HOSTILE)):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert page.count("<script") == page.count("</script>") <= 1


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
        token = site.node_tokens["a"]
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
