"""The pages `labctl web` serves (pure): the lab's page (its picture, every node's state and
display, the last demo's verdicts), a node's desktop page (spice-html5 in the browser) and its
serial console page (xterm.js on the node's login console).

Every value from the lab (names, roles, verdict details, a topology's description) is escaped
for HTML, and what goes into a script is JSON with `<`, `>` and `&` escaped, so no value ends a
<script> element or starts a tag."""

from __future__ import annotations

import html
import json
from collections.abc import Collection
from typing import Any
from urllib.parse import quote

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
.running, .pass { color: #1a7f37; font-weight: bold; } .fail, .error { color: #cf222e; font-weight: bold; }
.skipped, .other { color: #9a6700; font-weight: bold; } .note { color: #555; font-size: .9em; }
img.graph { max-width: 100%; border: 1px solid #eee; }
#terminal { display: inline-block; }  /* as large as its 80x24 cells */
"""
VERDICT_CLASSES = {"pass": "pass", "fail": "fail", "error": "error", "skipped": "skipped"}
NO_MICROPHONE = (
    "The browser's desktop plays the node's sound but has no microphone (spice-html5 cannot record): "
    "for two-way audio, open the node with <code>labctl desktop LAB/NODE</code> (remote-viewer)."
)
SERIAL_NOTE = (
    "The node's second serial port (ttyS1): log in as root with the lab's root password "
    "(<code>labctl secrets {lab}</code>). The session outlives the page: end it with <code>exit</code>."
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def script_json(value: object) -> str:
    """JSON that can sit inside a <script> element (pure)."""
    text = json.dumps(value)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _state_class(state: str) -> str:
    return "running" if state == "running" else "fail"


def node_rows(data: dict[str, Any], consoles: Collection[str] = ()) -> str:
    rows = []
    for node in data["nodes"]:
        name = str(node["name"])
        shows = _e(str(node.get("display") or "screen"))  # what its SPICE screen shows: desktop, text console
        desktop = f'<a href="/node/{quote(name)}">{shows}</a>' if node.get("spice") else "no display"
        serial = f'<a href="/node/{quote(name)}/serial">in the browser</a> or ' if name in consoles else ""
        rows.append(
            "<tr>"
            f"<td>{_e(name)}</td><td>{_e(', '.join(node['roles']))}</td>"
            f'<td class="{_state_class(str(node["state"]))}">{_e(node["state"])}</td>'
            f"<td>{_e(node['address'])}</td><td>{desktop}</td><td>{serial}<code>{_e(node['console'])}</code></td>"
            "</tr>"
        )
    head = "<tr><th>node</th><th>roles</th><th>state</th><th>address</th><th>display</th><th>serial console</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def verdict_rows(report: dict[str, Any] | None) -> str:
    if report is None:
        return (
            '<p class="note">No demo has run on this lab yet (<code>labctl demo run DEMO</code>, '
            "or <code>labctl up</code> without <code>--no-verify</code>).</p>"
        )
    rows = []
    for r in report.get("results", []):
        status = str(r.get("status", ""))
        rows.append(
            f"<tr><td>{_e(r.get('check', ''))}</td><td>{_e(r.get('subject', ''))}</td>"
            f'<td class="{VERDICT_CLASSES.get(status, "other")}">{_e(status.upper())}</td>'
            f"<td>{_e(r.get('detail', ''))}</td></tr>"
        )
    counts = ", ".join(f"{_e(v)} {_e(k)}" for k, v in dict(report.get("counts", {})).items())
    head = "<tr><th>check</th><th>subject</th><th>verdict</th><th>detail</th></tr>"
    title = f"<p>demo {_e(report.get('demo', ''))}: {counts}</p>"
    return f"{title}<table>{head}{''.join(rows)}</table>"


def lab_page(data: dict[str, Any], report: dict[str, Any] | None, consoles: Collection[str] = ()) -> str:
    """The lab's page: its picture, its nodes (with a link to the serial console of those in
    `consoles`), the last demo's verdicts (pure)."""
    lab = _e(data["lab"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>labctl {lab}</title><style>{STYLE}</style></head><body>"
        f"<h1>lab {lab} <span class='note'>({_e(data['phase'])}, {_e(str(data['accel']).upper())})</span></h1>"
        '<img class="graph" src="/graph.svg" alt="the lab\'s topology">'
        f"<h2>nodes</h2>{node_rows(data, consoles)}"
        f"<p class='note'>{NO_MICROPHONE}</p>"
        f"<h2>last demo</h2>{verdict_rows(report)}"
        "</body></html>"
    )


def desktop_page(lab: str, node: str, websocket: str, password: str) -> str:
    """A node's SPICE display in the browser: spice-html5 (served under /spice/) over websockify (pure)."""
    settings = script_json({"uri": websocket, "password": password})
    title = f"{_e(lab)}/{_e(node)}"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>labctl {title}</title>"
        '<link rel="stylesheet" type="text/css" href="/spice/spice.css">'
        f"<style>{STYLE}</style></head><body>"
        f'<p><a href="/">lab {_e(lab)}</a> / {_e(node)} <span id="status" class="note">connecting</span>'
        f' <a href="/node/{quote(node)}/serial">serial console</a></p>'
        f"<p class='note'>{NO_MICROPHONE}</p>"
        '<div id="spice-area"><div id="spice-screen" class="spice-screen"></div></div>'
        '<script type="module">'
        "import * as Spice from '/spice/main.js';"
        f"const s = {settings};"
        "const status = document.getElementById('status');"
        "const sc = new Spice.SpiceMainConn({uri: s.uri, screen_id: 'spice-screen', password: s.password,"
        " onsuccess: () => { status.textContent = 'connected'; },"
        " onerror: e => { status.textContent = 'error: ' + e; },"
        " onagent: () => Spice.resize_helper(sc)});"
        "window.addEventListener('resize', Spice.handle_resize);"
        "</script></body></html>"
    )


# websockify takes binary frames only: what the terminal types goes as bytes (UTF-8)
SERIAL_SCRIPT = """
const status = document.getElementById('status');
const term = new Terminal({scrollback: 5000, cursorBlink: true});
window.term = term;
term.open(document.getElementById('terminal'));
const ws = new WebSocket(s.uri);
ws.binaryType = 'arraybuffer';
const encoder = new TextEncoder();
const send = bytes => { if (ws.readyState === WebSocket.OPEN) ws.send(bytes); };
ws.onopen = () => { status.textContent = 'connected'; term.focus(); };
ws.onmessage = e => term.write(new Uint8Array(e.data));
ws.onclose = e => { status.textContent = 'closed (' + e.code + ')'; };
term.onData(d => send(encoder.encode(d)));
term.onBinary(d => send(Uint8Array.from(d, c => c.charCodeAt(0))));
"""


def serial_page(lab: str, node: str, websocket: str) -> str:
    """A node's login console in the browser: xterm.js (served under /xterm/) over websockify (pure)."""
    settings = script_json({"uri": websocket})
    title = f"{_e(lab)}/{_e(node)}"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>labctl {title} serial console</title>"
        '<link rel="stylesheet" type="text/css" href="/xterm/xterm.css">'
        f"<style>{STYLE}</style></head><body>"
        f'<p><a href="/">lab {_e(lab)}</a> / <a href="/node/{quote(node)}">{_e(node)}</a> serial console'
        ' <span id="status" class="note">connecting</span></p>'
        f"<p class='note'>{SERIAL_NOTE.format(lab=_e(lab))}</p>"
        '<div id="terminal"></div>'
        '<script src="/xterm/xterm.js"></script>'
        f"<script>const s = {settings};{SERIAL_SCRIPT}</script></body></html>"
    )
