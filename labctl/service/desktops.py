"""`labctl desktop`: open a node's SPICE display in remote-viewer with the lab's password, or say how
to reach it from another machine (the displays listen on 127.0.0.1 only).

The password never goes on a command line (other users read those in /proc): remote-viewer gets a
virt-viewer connection file, 0600 in a private folder, that it deletes once read."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from labctl.backends.base import SPICE_SECRET
from labctl.backends.registry import backend_for
from labctl.errors import LabctlError
from labctl.service.labs import resolve_node
from labctl.state import read_secrets

VIEWER = "remote-viewer"  # virt-viewer's SPICE client


@dataclass(frozen=True)
class Desktop:
    lab: str
    node: str
    uri: str  # spice://127.0.0.1:PORT
    port: int
    tunnel: str  # the ssh command that brings the port to another machine
    viewer: str | None  # remote-viewer's path when it can open a window here
    why_not: str  # why it cannot ('' when it can)

    def to_dict(self) -> dict[str, object]:
        return {
            "lab": self.lab,
            "node": self.node,
            "uri": self.uri,
            "tunnel": self.tunnel,
            "viewer": self.viewer,
            "why_not": self.why_not,
            "password_shown_by": f"labctl secrets {self.lab}",
        }


def spice_port(uri: str) -> int:
    """The port of a node's display URI (pure); LabctlError when it is not a local SPICE one."""
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "spice" or parts.hostname != "127.0.0.1" or port is None:
        raise LabctlError(f"the display {uri!r} is not a SPICE display on 127.0.0.1")
    return port


def tunnel_command(port: int, user: str, host: str) -> str:
    """How another machine reaches a display that listens on this host's loopback (pure)."""
    return f"ssh -N -L {port}:127.0.0.1:{port} {user}@{host}"


def viewer_here(env: Mapping[str, str], which: str | None) -> tuple[str | None, str]:
    """remote-viewer's path if it can open a window here, else (None, why) (pure)."""
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return None, "no graphical session here (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    if which is None:
        return None, f"{VIEWER} is not installed (Debian package virt-viewer)"
    return which, ""


def connection_file(title: str, port: int, password: str) -> str:
    """A virt-viewer connection file (pure). Every value is one plain line: a newline in one
    would add a key of its own."""
    values = {"title": title, "password": password}
    for key, value in values.items():
        if not value.isprintable() or not value.strip():
            raise LabctlError(f"the desktop's {key} cannot go in a connection file: {value!r}")
    return (
        "[virt-viewer]\n"
        "type=spice\n"
        "host=127.0.0.1\n"
        f"port={port}\n"
        f"password={password}\n"
        f"title={title}\n"
        "delete-this-file=1\n"
    )


def find_desktop(node: str, env: Mapping[str, str] | None = None) -> Desktop:
    """The display of NODE or LAB/NODE, and whether it can be opened here."""
    state, name = resolve_node(node)
    info = backend_for(state).node_info(state, name)
    if info.display is None:
        raise LabctlError(f"node '{state.lab}/{name}' has no display now (it is {info.status})")
    port = spice_port(info.display)
    viewer, why_not = viewer_here(os.environ if env is None else env, shutil.which(VIEWER))
    return Desktop(
        lab=state.lab,
        node=name,
        uri=info.display,
        port=port,
        tunnel=tunnel_command(port, getpass.getuser(), socket.getfqdn()),
        viewer=viewer,
        why_not=why_not,
    )


def open_desktop(desktop: Desktop, opening: Callable[[], None] = lambda: None) -> int:
    """Open the display in remote-viewer with the lab's password, until its window closes; its exit
    code. `opening` is called once nothing stands in the way."""
    if desktop.viewer is None:
        raise LabctlError(f"cannot open a window here: {desktop.why_not}")
    if os.geteuid() != 0:
        raise LabctlError("the lab's SPICE password is root's: run `labctl desktop` with sudo")
    password = read_secrets(desktop.lab).get(SPICE_SECRET)
    if password is None:
        raise LabctlError(f"lab {desktop.lab} has no SPICE password (not made by `up` yet, or removed)")
    text = connection_file(f"labctl {desktop.lab}/{desktop.node}", desktop.port, password)
    with tempfile.TemporaryDirectory(prefix="labctl-desktop-") as folder:  # 0700
        path = Path(folder) / "display.vv"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        opening()
        return subprocess.run([desktop.viewer, str(path)], check=False).returncode
