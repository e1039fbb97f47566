"""A desktop phone on real VMs: the shipped voip-desktop lab, with alice's sound recorded to a file.
alice's SPICE screen shows the Linphone window (read back from `virsh screenshot`), its title is
seen through the guest agent, and its account is registered; a call from the headless phone bob
reaches alice's sound card (QEMU's `file` audio backend) as bob's 1000 Hz tone; the shipped demo
passes on it, its calls from bob to alice's GUI and back included. Negative controls: bob's screen (a text
console) is not taken for a desktop, before the call the card is silent, and without alice's side
of the voice check (its tone and recording) the same call fails."""

from __future__ import annotations

import json
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


def demo(path: Path | str) -> list[dict[str, Any]]:
    out = labctl("demo", "run", str(path), "--lab", LAB, "--json", check=False, timeout=1200)
    results: list[dict[str, Any]] = json.loads(out.stdout)["results"]
    return results


def test_the_shipped_demo_passes_with_calls_both_ways_between_the_gui_and_the_headless_phone(
    lab: dict[str, Any],
) -> None:
    results = demo("voip-desktop")
    assert [r["status"] for r in results] == ["pass"] * len(results), [(r["check"], r["detail"]) for r in results]
    calls = {r["subject"]: r["detail"] for r in results if r["check"] == "sip_invite"}
    assert set(calls) == {"bob -> alice (sip:alice@desk.lab)", "alice -> bob (sip:bob@desk.lab)"}
    assert all("voice heard both ways" in detail for detail in calls.values()), calls


def test_without_the_gui_s_side_of_the_voice_check_the_call_fails(lab: dict[str, Any], tmp_path: Path) -> None:
    """Negative control: alice's tone and recording (labctl-desktop-answer) cannot start; the GUI
    still answers, but it sends what its sound card's microphone hears (nothing) and records
    nothing. The tone source of the calls before is gone (PulseAudio would remember the move)."""
    one = tmp_path / "call.yaml"
    check = "sip_invite: {from: bob, to: alice, timeout: 60}"  # one try: it takes about 40 s
    one.write_text(f"format: 1\nname: {LAB}\ndescription: one call\nchecks:\n  - {check}\n")
    answer = "/usr/local/sbin/labctl-desktop-answer"  # vm-recipes/desktop/recipe.yaml paths.answer
    run("alice", "chmod", "-x", answer)  # a unit in /etc cannot be masked at runtime
    try:
        (call,) = demo(one)
    finally:
        run("alice", "chmod", "+x", answer)
    assert call["status"] == "fail", call["detail"]
    assert "alice: no recording" in call["detail"] and "bob did not hear 600 Hz" in call["detail"], call["detail"]
