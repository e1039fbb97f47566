"""A desktop phone on real VMs: the shipped voip-desktop lab, with alice's sound recorded to a file.
alice's SPICE screen shows the Linphone window (read back from `virsh screenshot`), its title is
seen through the guest agent, and its account is registered; a call from the headless phone bob
reaches alice's sound card (QEMU's `file` audio backend) as bob's 1000 Hz tone. Negative controls:
bob's screen (a text console) is not taken for a desktop, and before the call the card is silent."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.backends.libvirt.naming import domain_name
from labctl.state.lab_state import lab_folder
from tests.integration.lab import ROOT, labctl, running_lab, write_topology
from tests.integration.png import colours, read_png, rendered
from tests.integration.wav import FRAME, HEADER, RATE, dominant, left_channel

LAB = "desktest"
X = ["runuser", "-u", "lab", "--", "env", "DISPLAY=:0", "XAUTHORITY=/home/lab/.Xauthority"]
LOGS = "/home/lab/.local/share/linphone/logs"
PHONE_HOME = "/var/lib/labctl-phone"
TONES = (400.0, 600.0, 1000.0, 1500.0, 2000.0)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    text = (ROOT / "topologies" / "voip-desktop.yaml").read_text()
    text = text.replace("name: voip-desktop", f"name: {LAB}").replace("desktop: true", "desktop: {sound: file}")
    topology = write_topology(tmp_path_factory.mktemp("desktop"), LAB, text)
    with running_lab(topology, "--no-verify") as (plan, up):
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr
        yield plan


def run(node: str, *command: str) -> str:
    return labctl("exec", f"{LAB}/{node}", "--", *command, timeout=120).stdout


def screen(node: str, path: Path) -> Path:
    argv = ["virsh", "-c", "qemu:///system", "screenshot", domain_name(LAB, node), str(path)]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    return path


def desktop_drawn(path: Path) -> bool:
    """A desktop with a window: many colours (anti-aliased text, icons), no colour over 90 %. A text
    console has a handful of colours, a blank screen one."""
    return rendered(colours(read_png(path)[2]), dominant_max=0.9, distinct_min=32)


def test_the_desktop_phone_shows_linphone_signed_in_and_registered(lab: dict[str, Any], tmp_path: Path) -> None:
    windows = run("alice", *X, "wmctrl", "-l")
    assert any(line.endswith(" Linphone") for line in windows.splitlines()), windows
    registered = run("alice", "sh", "-c", f"grep -ahc 'to \\[LinphoneRegistrationOk\\]' {LOGS}/*.log || true")
    assert int(registered.split()[0]) >= 1, registered
    assert (
        run("alice", "sh", "-c", "pgrep -x linphonec || echo none").strip() == "none"
    )  # the GUI is its only SIP client
    assert desktop_drawn(screen("alice", tmp_path / "alice.png"))
    assert not desktop_drawn(screen("bob", tmp_path / "bob.png"))  # negative control: a text console


def test_a_call_from_the_headless_phone_plays_its_tone_on_the_desktop_s_sound_card(lab: dict[str, Any]) -> None:
    wav = lab_folder(LAB) / "nodes" / "alice.audio.wav"
    before = wav.read_bytes()
    silence = left_channel(before[max(HEADER, len(before) - 2 * RATE * FRAME) :])
    assert dominant(silence, TONES) is None, "the desktop played something before any call"
    linphonecsh = f"HOME={PHONE_HOME} linphonecsh generic"
    run(
        "bob", "sh", "-c", f"{linphonecsh} 'play {PHONE_HOME}/tone-1000.wav' && {linphonecsh} 'call sip:alice@desk.lab'"
    )
    try:
        deadline = time.monotonic() + 120
        streaming = f"grep -aq 'to LinphoneCallStreamsRunning' {LOGS}/*.log"
        while labctl("exec", f"{LAB}/alice", "--", "sh", "-c", streaming, check=False).returncode:
            assert time.monotonic() < deadline, "alice's Linphone never answered bob's call"
            time.sleep(3)
        time.sleep(2)  # the ring tone is over
        start = wav.stat().st_size
        time.sleep(6)
        voice = left_channel(wav.read_bytes()[start:])
    finally:
        run("bob", "sh", "-c", f"{linphonecsh} terminate || true")
    assert len(voice) > RATE, f"QEMU wrote {len(voice) / RATE:.1f} s of sound in 6 s"
    assert dominant(voice, TONES) == 1000.0
