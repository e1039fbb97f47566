"""The image's busy-host hooks: no device job can time out, and the guest agent starts without udev."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from labctl.images.build import (
    AGENT_SCRIPT,
    AGENT_SCRIPT_PATH,
    DEVICE_DROPIN_UNITS,
    busy_host_hooks,
    mmdebstrap_argv,
)
from labctl.images.recipe import load_image_recipe

AGENT_DEVICE = r"dev-virtio\x2dports-org.qemu.guest_agent.0.device"


def run_hook(hook: str, tree: Path) -> None:
    subprocess.run(["sh", "-c", hook, "hook", str(tree)], check=True, env={"PATH": "/usr/bin:/bin"})


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The hooks run against a scratch tree, as mmdebstrap runs them ("$1" is the tree); the last
    one (systemctl enable in a chroot) needs a real tree and is only checked by its text."""
    root = tmp_path / "tree"
    root.mkdir()
    hooks = busy_host_hooks()
    assert hooks[-1] == 'chroot "$1" systemctl enable qemu-guest-agent.service'
    for hook in hooks[:-1]:
        run_hook(hook, root)
    return root


def test_the_hooks_are_in_the_image_build(images: Path) -> None:
    argv = mmdebstrap_argv(load_image_recipe("lab"), Path("/t"), Path("/c"))
    for hook in busy_host_hooks():
        assert f"--customize-hook={hook}" in argv


def test_every_device_unit_and_the_ones_boot_waits_on_never_time_out(tree: Path) -> None:
    assert {"device", "dev-ttyS0.device", "dev-vda.device", AGENT_DEVICE} <= set(DEVICE_DROPIN_UNITS)
    for unit in DEVICE_DROPIN_UNITS:
        dropin = tree / "etc/systemd/system" / f"{unit}.d" / "labctl-no-timeout.conf"
        lines = dropin.read_text().splitlines()
        assert lines == ["[Unit]", "JobTimeoutSec=infinity", "JobRunningTimeoutSec=infinity"], unit
    # the backslash of systemd's escaping survives the shell: the folder is named as systemd looks it up
    assert (tree / "etc/systemd/system" / f"{AGENT_DEVICE}.d").is_dir()


def test_the_agent_unit_is_bound_to_no_device_and_starts_with_multi_user(tree: Path) -> None:
    unit = (tree / "etc/systemd/system/qemu-guest-agent.service").read_text()
    assert "BindsTo" not in unit and "Requires" not in unit and ".device" not in unit
    assert f"ExecStart={AGENT_SCRIPT_PATH}" in unit
    assert "Restart=always" in unit and "WantedBy=multi-user.target" in unit
    script = tree / AGENT_SCRIPT_PATH.lstrip("/")
    assert script.read_text() == AGENT_SCRIPT
    assert os.stat(script).st_mode & 0o777 == 0o755
    subprocess.run(["sh", "-n", str(script)], check=True)


def fake_guest(tmp_path: Path, ports: dict[str, str | None]) -> tuple[Path, Path]:
    """A sysfs with virtio ports (name -> port name, None for no name file), a /dev, a qemu-ga that
    prints its arguments, and the script pointed at them."""
    sysfs, dev, bin_ = tmp_path / "sys", tmp_path / "dev", tmp_path / "bin"
    for folder in (sysfs, dev, bin_):
        folder.mkdir()
    for node, name in ports.items():
        (sysfs / node).mkdir()
        if name is not None:
            (sysfs / node / "name").write_text(name + "\n")
        subprocess.run(["mknod", str(dev / node), "c", "1", "3"], check=True)
    (bin_ / "qemu-ga").write_text('#!/bin/sh\necho "qemu-ga $*"\n')
    (bin_ / "modprobe").write_text("#!/bin/sh\nexit 1\n")  # no module to load here: must not matter
    for tool in ("qemu-ga", "modprobe"):
        (bin_ / tool).chmod(0o755)
    script = (
        AGENT_SCRIPT.replace("/sys/class/virtio-ports", str(sysfs))
        .replace('"/dev/', f'"{dev}/')
        .replace("/usr/sbin/qemu-ga", str(bin_ / "qemu-ga"))
    )
    path = tmp_path / "labctl-qemu-ga"
    path.write_text(script)
    return path, bin_


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_the_agent_script_finds_its_port_among_others(tmp_path: Path) -> None:
    script, bin_ = fake_guest(
        tmp_path, {"vport1p2": "org.other.0", "vport1p3": None, "vport1p1": "org.qemu.guest_agent.0"}
    )
    out = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, timeout=10, env={"PATH": f"{bin_}:/usr/bin:/bin"}
    )
    assert out.stdout.strip() == f"qemu-ga -m virtio-serial -p {tmp_path}/dev/vport1p1"


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
@pytest.mark.parametrize("ports", [{}, {"vport1p2": "org.other.0"}, {"vport1p1": ""}, {"vport1p1": "\x00garbage"}])
def test_without_its_port_the_agent_script_keeps_waiting(tmp_path: Path, ports: dict[str, str | None]) -> None:
    script, bin_ = fake_guest(tmp_path, ports)
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(["sh", str(script)], capture_output=True, timeout=2.5, env={"PATH": f"{bin_}:/usr/bin:/bin"})
