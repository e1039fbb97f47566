"""Who can reach a running lab: its SPICE displays want the lab's password, root has the lab's
password (locked in the image until configure sets it), the serial console still logs root in for
host root, and the secrets stay out of world-readable places."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.backends.libvirt import dac
from labctl.render.shadow import sha512_crypt
from labctl.service.images import build_image
from labctl.state import lab_folder, lab_secrets
from tests.integration.lab import ROOT, domains, labctl, leftovers, plan_of, write_topology
from tests.integration.spice_link import LINK_ERRORS, LINK_OK, LINK_PERMISSION_DENIED, spice_link

LAB = "access"
TOPOLOGY = f"""
name: {LAB}
description: two hosts on one LAN, for the access tests
nodes: {{a: {{}}, b: {{}}}}
lans: {{net: [a, b]}}
addressing: {{lan: 10.78.0.0/16}}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    topology = write_topology(tmp_path_factory.mktemp("access"), LAB, TOPOLOGY)
    plan = plan_of(topology)
    labctl("down", LAB, check=False)
    labctl("up", topology, "--no-verify")
    state: dict[str, Any] = json.loads((lab_folder(LAB) / "state.json").read_text())
    yield {"plan": plan, "state": state}
    labctl("down", LAB, check=False)
    assert leftovers(plan) == []


def spice_ports(lab: dict[str, Any]) -> dict[str, int]:
    ports = {name: node["spice_port"] for name, node in lab["state"]["nodes"].items()}
    assert ports and all(isinstance(p, int) for p in ports.values()), ports
    return ports


def domain_pid(domain: str) -> int:
    return int(Path(f"/run/libvirt/qemu/{domain}.pid").read_text().strip())


def test_no_spice_port_accepts_a_connection_without_the_password(lab: dict[str, Any]) -> None:
    password = lab_secrets(LAB, ("spice_password",))["spice_password"]
    for node, port in spice_ports(lab).items():
        results = {guess: spice_link("127.0.0.1", port, guess) for guess in ("", "wrong", password[:-1], password)}
        named = {guess or "(empty)": LINK_ERRORS.get(r, str(r)) for guess, r in results.items()}
        assert list(results.values()) == [LINK_PERMISSION_DENIED] * 3 + [LINK_OK], f"{node} port {port}: {named}"


VIEWER = """#!/bin/sh
# stands in for remote-viewer: logs in to the display its connection file names, with its password
exec {python} -c '
import configparser, sys
from tests.integration.spice_link import spice_link
c = configparser.ConfigParser(interpolation=None)
c.read(sys.argv[1])
v = c["virt-viewer"]
sys.exit(10 + spice_link(v["host"], int(v["port"]), v["password"]))' "$1"
"""


def test_labctl_desktop_hands_the_viewer_a_file_that_opens_the_display(lab: dict[str, Any], tmp_path: Path) -> None:
    viewer = tmp_path / "remote-viewer"
    viewer.write_text(VIEWER.format(python=sys.executable))
    viewer.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "DISPLAY": ":99", "PYTHONPATH": str(ROOT)}
    for node, port in spice_ports(lab).items():
        argv = [sys.executable, "-m", "labctl", "desktop", f"{LAB}/{node}"]
        run = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
        assert run.returncode == 10 + LINK_OK, (node, run.returncode, run.stderr)  # the viewer got in
        shown = json.loads(labctl("desktop", f"{LAB}/{node}", "--json").stdout)
        assert shown["uri"] == f"spice://127.0.0.1:{port}"
        assert shown["tunnel"].startswith(f"ssh -N -L {port}:127.0.0.1:{port} ")


def test_the_password_is_kept_out_of_world_readable_places(lab: dict[str, Any]) -> None:
    password = lab_secrets(LAB, ("spice_password",))["spice_password"]
    assert (lab_folder(LAB) / "secrets.json").stat().st_mode & 0o077 == 0
    for node in lab["state"]["nodes"].values():
        domain = node["domain"]
        plain = subprocess.run(["virsh", "-c", "qemu:///system", "dumpxml", domain], capture_output=True, text=True)
        assert plain.returncode == 0 and "<graphics type='spice'" in plain.stdout
        assert password not in plain.stdout, "XMLDesc without VIR_DOMAIN_XML_SECURE shows the SPICE password"
        cmdline = Path(f"/proc/{domain_pid(domain)}/cmdline").read_bytes().decode(errors="replace")
        assert password not in cmdline, "the QEMU command line (world-readable in /proc) shows the password"
        log = Path(f"/var/log/libvirt/qemu/{domain}.log")
        assert not log.exists() or password not in log.read_text(errors="replace")
        status = Path(f"/run/libvirt/qemu/{domain}.xml")
        if status.exists() and password in status.read_text():
            assert status.stat().st_mode & 0o077 == 0, f"{status} holds the password and is not private"


def test_root_has_the_lab_password_as_a_sha512_hash(lab: dict[str, Any]) -> None:
    password = lab_secrets(LAB, ("root_password",))["root_password"]
    for node in ("a", "b"):
        entry = labctl("exec", f"{LAB}/{node}", "--", "getent", "shadow", "root").stdout.strip()
        hashed = entry.split(":")[1]
        assert hashed.startswith("$6$"), f"{node}: root's password field is {hashed[:3]!r}..., not a SHA-512 hash"
        assert sha512_crypt(password, hashed.split("$")[2]) == hashed
        leftover = labctl("exec", f"{LAB}/{node}", "--", "ls", "-A", "/root").stdout
        assert ".labctl-root.chpasswd" not in leftover


def test_the_image_ships_root_locked(lab: dict[str, Any]) -> None:
    """Before configure, no password opens a login: read /etc/shadow straight from the image."""
    overlay = lab["state"]["nodes"]["a"]["overlay"]
    chain = json.loads(
        subprocess.run(
            ["qemu-img", "info", "-U", "--backing-chain", "--output=json", overlay], capture_output=True, check=True
        ).stdout
    )
    backing = chain[-1]["filename"]  # the image, under a booted template's disk if the node is a clone
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "image.raw"
        subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", backing, str(raw)], check=True)
        shadow = subprocess.run(
            ["debugfs", "-R", "cat /etc/shadow", str(raw)], capture_output=True, text=True, check=True
        ).stdout
    root = next(line for line in shadow.splitlines() if line.startswith("root:"))
    assert root.split(":")[1].startswith("!"), f"the image's root entry is {root.split(':')[1]!r}, not locked"


def _console_session(node: str, command: str, expect: str, timeout: float = 90) -> str:
    """`labctl console` in a pseudo-terminal: wake the getty, run `command`, wait for `expect`."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "labctl", "console", node])
    seen, sent, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and expect.encode() not in seen:
            ready, _, _ = select.select([fd], [], [], 2)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
            elif not sent or b"#" not in seen[-200:]:
                os.write(fd, b"\r")
            if not sent and b"#" in seen:
                os.write(fd, command.encode() + b"\r")
                sent = True
        return seen.decode(errors="replace")
    finally:
        os.write(fd, b"\x1d")  # Ctrl-] leaves virsh console
        time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


def test_labctl_console_still_logs_root_in(lab: dict[str, Any]) -> None:
    seen = _console_session(f"{LAB}/a", "echo console-uid-$(id -u)", "console-uid-0")
    assert "console-uid-0" in seen, f"no root shell on the serial console; it showed:\n{seen[-600:]}"


def _labctl_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labctl", *args], capture_output=True, text=True, timeout=900, cwd=ROOT, env=env
    )


def test_qemu_falls_back_to_root_where_its_user_cannot_reach_the_files(tmp_path: Path) -> None:
    """With the cache and state under a folder closed to libvirt-qemu (a user's XDG dirs under a
    0700 home), QEMU runs as root; the lab still works and the image keeps its owner."""
    qemu = dac.qemu_account()
    image = build_image("debian12-lab")  # the cached build: the suite built it already
    if qemu is None or qemu.uid == 0:
        pytest.skip("no unprivileged QEMU user in qemu.conf")
    top = Path(tempfile.mkdtemp(prefix="labctl-access-", dir="/var/tmp"))
    try:
        top.chmod(0o700)
        env = {**os.environ, "XDG_CACHE_HOME": str(top / "cache"), "XDG_STATE_HOME": str(top / "state")}
        images = top / "cache" / "labctl" / "images"
        images.mkdir(parents=True)
        copy = images / image.disk.parent.name
        shutil.copytree(image.disk.parent, copy)  # the same build, no second image build
        topology = write_topology(tmp_path, "access2", TOPOLOGY.replace(f"name: {LAB}", "name: access2"))
        up = _labctl_env(env, "up", topology, "--no-verify")
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            state = json.loads((top / "state" / "labctl" / "access2" / "state.json").read_text())
            users = {
                name: subprocess.run(
                    ["ps", "-o", "user=", "-p", str(domain_pid(node["domain"]))], capture_output=True, text=True
                ).stdout.strip()
                for name, node in state["nodes"].items()
            }
            assert users == dict.fromkeys(state["nodes"], "root"), users
            exec_a = _labctl_env(env, "exec", "access2/a", "--", "id", "-u")
            assert exec_a.returncode == 0 and exec_a.stdout.strip() == "0", exec_a.stderr
        finally:
            down = _labctl_env(env, "down", "access2")
        assert down.returncode == 0, down.stdout + down.stderr
        assert not [d for d in domains() if d.startswith("labctl_access2_")]
        owners = {p.name: (p.stat().st_uid, oct(p.stat().st_mode & 0o777)) for p in copy.iterdir()}
        assert all(uid == 0 for uid, _ in owners.values()), f"image files changed owner: {owners}"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_by_default_qemu_runs_as_its_unprivileged_user(lab: dict[str, Any]) -> None:
    """Root's default cache and state are in /var (not /root): QEMU runs as libvirt's own user."""
    qemu = dac.qemu_account()
    if qemu is None or qemu.uid == 0:
        pytest.skip("qemu.conf names no unprivileged QEMU user")
    for node in lab["state"]["nodes"].values():
        user = subprocess.run(
            ["ps", "-o", "user=", "-p", str(domain_pid(node["domain"]))], capture_output=True, text=True
        ).stdout.strip()
        assert user == qemu.name, (node["domain"], user, dac.blocking_folders([node["overlay"]], qemu))
