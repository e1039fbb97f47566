"""Build an image as a readable sequence of steps, each an external command spelled out:

    mmdebstrap (tree) -> mke2fs -d (ext4, no loop mount) -> qemu-img convert (compressed qcow2)

plus the kernel and initrd beside it for direct kernel boot, and a manifest of exact versions.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from labctl.errors import LabctlError
from labctl.images import ImageArtifacts, Step
from labctl.images.checksum import sha256_file
from labctl.images.freeswitch_build import RESULT, result_folder
from labctl.images.freeswitch_source import PREFIX
from labctl.images.recipe import TOKEN_VAR, ImageRecipe

SOURCE_DATE_EPOCH = 1700000000  # fixed, so the same inputs give the same timestamps
BOOT_MASKED_UNITS = (
    # timers and jobs a short-lived lab node never needs
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "man-db.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
    "dpkg-db-backup.timer",
    "systemd-networkd-wait-online.service",
    "systemd-pstore.service",
    # each costs seconds of a single TCG vCPU at boot and serves nothing here
    "modprobe@drm.service",
    "modprobe@fuse.service",
    "modprobe@efi_pstore.service",
    "modprobe@dm_mod.service",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "dev-hugepages.mount",
    "dev-mqueue.mount",
)

# Coming up on a busy host. Under load, udev coldplug can outlast systemd's 90 s device timeout;
# a unit bound to a device that timed out fails for good ("Dependency failed"), and the stock
# qemu-guest-agent.service is BindsTo= its port's device and started only by a udev rule.
# 1. No device job times out: a drop-in for every device unit (and, belt and braces, by name for
#    the devices boot waits on) sets both job timeouts to infinity; the node's boot wait judges progress.
# 2. The agent does not depend on udev at all: an override unit, wanted by multi-user.target with no
#    BindsTo=, runs a script that loads virtio_console, finds the port in sysfs and starts qemu-ga on
#    its devtmpfs node; Restart=always covers a port that goes away. The udev rule still works.
DEVICE_NO_TIMEOUT = "[Unit]\nJobTimeoutSec=infinity\nJobRunningTimeoutSec=infinity\n"
DEVICE_DROPIN_UNITS = (
    "device",  # type-wide drop-in: every .device unit
    "dev-ttyS0.device",  # serial-getty@ttyS0 (labctl console)
    "dev-vda.device",  # the root filesystem's fsck/remount
    r"dev-virtio\x2dports-org.qemu.guest_agent.0.device",
)
AGENT_SCRIPT_PATH = "/usr/local/sbin/labctl-qemu-ga"
AGENT_PORT = "org.qemu.guest_agent.0"
AGENT_SCRIPT = f"""#!/bin/sh
# labctl: start qemu-ga on its virtio port without waiting for udev (see labctl/images/build.py).
modprobe -q virtio_console 2>/dev/null
while :; do
    for port in /sys/class/virtio-ports/*; do
        if [ "$(cat "$port/name" 2>/dev/null)" = {AGENT_PORT} ] && [ -c "/dev/${{port##*/}}" ]; then
            exec /usr/sbin/qemu-ga -m virtio-serial -p "/dev/${{port##*/}}"
        fi
    done
    sleep 1
done
"""
AGENT_UNIT = f"""[Unit]
Description=QEMU Guest Agent (labctl: no device binding, no device timeout)

[Service]
ExecStart={AGENT_SCRIPT_PATH}
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
"""

FREESWITCH_DEBS_IN_TREE = "/var/cache/labctl-freeswitch"
FREESWITCH_AUTH = "/etc/apt/auth.conf.d/labctl-freeswitch.conf"
FREESWITCH_LIST = "/etc/apt/sources.list.d/labctl-freeswitch.list"
FREESWITCH_KEYRING = "/etc/apt/keyrings/labctl-freeswitch.gpg"
FREESWITCH_USER = "freeswitch"
FREESWITCH_COMMANDS = ("freeswitch", "fs_cli")  # linked into /usr/bin
APT_INSTALL = 'chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends'


def _run(argv: list[str], log: Path, env: dict[str, str] | None = None, on_line: Step | None = None) -> None:
    """Run a build command, appending its output to the build log; raise with the log's tail on failure."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if on_line is not None:
                on_line(line.rstrip())
        code = proc.wait()
    if code != 0:
        tail = "\n".join("  " + line for line in log.read_text(errors="replace").splitlines()[-12:])
        raise LabctlError(f"{argv[0]} failed (exit {code}); full log in {log}:\n{tail}")


def _freeswitch_hooks(recipe: ImageRecipe) -> list[str]:
    """Install FreeSWITCH inside the tree with apt, from SignalWire's repository or from local .debs.

    The token reaches apt only through a root-only auth.conf.d file made from the environment, so it
    is in no argument, log or image; the file, the source list and the key go once apt is done.
    """
    addon, source = recipe.freeswitch_active(), recipe.freeswitch_source
    if addon is None or source is None:
        return []
    if source.kind == "source":
        return _compiled_hooks(result_folder(recipe.freeswitch_build_digest()) / RESULT)
    if source.kind == "local-debs":
        in_tree = [f"{FREESWITCH_DEBS_IN_TREE}/{path.name}" for path, _ in source.debs]
        return [
            f'mkdir -p "$1{FREESWITCH_DEBS_IN_TREE}"',
            f'cp -- {" ".join(shlex.quote(str(path)) for path, _ in source.debs)} "$1{FREESWITCH_DEBS_IN_TREE}/"',
            f"{APT_INSTALL} {' '.join(shlex.quote(p) for p in in_tree)}",
            f'rm -rf "$1{FREESWITCH_DEBS_IN_TREE}"',
        ]
    host = urlsplit(addon.repository).hostname
    entry = f"deb [signed-by={FREESWITCH_KEYRING}] {addon.repository} {recipe.suite} main"
    return [
        'mkdir -p "$1/etc/apt/auth.conf.d" "$1/etc/apt/keyrings" "$1/etc/apt/sources.list.d"',
        f'(umask 077; printf "machine %s login signalwire password %s\\n" {host} "${TOKEN_VAR}"'
        f' > "$1{FREESWITCH_AUTH}")',
        f'chroot "$1" /usr/lib/apt/apt-helper download-file {shlex.quote(addon.keyring)} {FREESWITCH_KEYRING}',
        f'chmod 0644 "$1{FREESWITCH_KEYRING}"',
        f'echo {shlex.quote(entry)} > "$1{FREESWITCH_LIST}"',
        'chroot "$1" apt-get update -q',
        f"{APT_INSTALL} {' '.join(shlex.quote(p) for p in addon.packages)}",
        f'rm -f "$1{FREESWITCH_AUTH}" "$1{FREESWITCH_LIST}" "$1{FREESWITCH_KEYRING}"',
    ]


def _compiled_hooks(result: Path) -> list[str]:
    """Unpack the compiled FreeSWITCH (freeswitch_build), add its user and commands, and prove it runs:
    every library its binaries and modules need is in the image (the recipe's runtime_packages)."""
    binaries = f"{PREFIX}/bin/freeswitch {PREFIX}/bin/fs_cli {PREFIX}/mod/*.so"
    check_libs = (
        f'missing=$(ldd {binaries} | grep "not found" | sort -u); '
        '[ -z "$missing" ] || { echo "FreeSWITCH needs libraries the image lacks: $missing" >&2; exit 1; }'
    )
    adduser = (
        f"getent passwd {FREESWITCH_USER} >/dev/null || useradd --system --user-group"
        f" --home-dir /var/lib/freeswitch --no-create-home --shell /usr/sbin/nologin {FREESWITCH_USER}"
    )
    return [
        f'tar --zstd -xf {shlex.quote(str(result))} -C "$1"',
        'chroot "$1" ldconfig',
        f'chroot "$1" sh -c {shlex.quote(adduser)}',
        *(f'ln -sf {PREFIX}/bin/{name} "$1/usr/bin/{name}"' for name in FREESWITCH_COMMANDS),
        f'chroot "$1" sh -c {shlex.quote(check_libs)}',
        'chroot "$1" /usr/bin/freeswitch -version',
    ]


def _write_hook(path: str, text: str, mode: str = "0644") -> str:
    """A hook that writes `text` to `path` in the tree (folders made, quoting done by shlex)."""
    folder = shlex.quote(os.path.dirname(path))
    target = shlex.quote(path)
    return f'mkdir -p "$1"{folder} && printf %s {shlex.quote(text)} > "$1"{target} && chmod {mode} "$1"{target}'


def busy_host_hooks() -> list[str]:
    """Device units never time out, and the guest agent starts without udev (see DEVICE_NO_TIMEOUT)."""
    hooks = [
        _write_hook(f"/etc/systemd/system/{unit}.d/labctl-no-timeout.conf", DEVICE_NO_TIMEOUT)
        for unit in DEVICE_DROPIN_UNITS
    ]
    hooks += [
        _write_hook(AGENT_SCRIPT_PATH, AGENT_SCRIPT, "0755"),
        _write_hook("/etc/systemd/system/qemu-guest-agent.service", AGENT_UNIT),
        'chroot "$1" systemctl enable qemu-guest-agent.service',
    ]
    return hooks


def _hooks(recipe: ImageRecipe) -> list[str]:
    """mmdebstrap --customize-hook shell snippets; "$1" is the tree."""
    addon = recipe.freeswitch_active()
    disable = " ".join(recipe.disable_services + (addon.services if addon else ()))
    masked = " ".join(BOOT_MASKED_UNITS)
    getty = "ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM"
    dropin = '"$1/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"'
    return [
        'echo lab > "$1/etc/hostname"',
        'printf "/dev/vda / ext4 defaults,noatime 0 1\\n" > "$1/etc/fstab"',
        'chroot "$1" passwd -l root',  # no login but the serial autologin until configure sets root's password
        'mkdir -p "$1/etc/systemd/system/serial-getty@ttyS0.service.d"',
        f"printf '%s\\n' '[Service]' 'ExecStart=' '{getty}' > {dropin}",
        'chroot "$1" systemctl enable systemd-networkd',
        *busy_host_hooks(),
        f'for s in {disable}; do chroot "$1" systemctl disable "$s" 2>/dev/null || true; done',
        f'chroot "$1" systemctl mask {masked}',
        'rm -f "$1/etc/resolv.conf"; : > "$1/etc/resolv.conf"',
        'rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*.bin',
    ]


def _packages(recipe: ImageRecipe) -> tuple[str, ...]:
    """The recipe's packages, and the runtime libraries of a FreeSWITCH compiled from source."""
    addon, source = recipe.freeswitch_active(), recipe.freeswitch_source
    if addon is not None and addon.build is not None and source is not None and source.kind == "source":
        return recipe.packages + addon.build.runtime_packages
    return recipe.packages


def mmdebstrap_argv(recipe: ImageRecipe, tree: Path, apt_cache: Path) -> list[str]:
    argv = [
        "mmdebstrap",
        f"--variant={recipe.variant}",
        "--mode=root",
        "--format=directory",
        f"--components={','.join(recipe.components)}",
        f"--include={','.join((recipe.kernel, *_packages(recipe)))}",
        "--skip=essential/unlink",
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
        f"--setup-hook=sync-in {apt_cache} /var/cache/apt/archives/",
        f"--customize-hook=sync-out /var/cache/apt/archives {apt_cache}",
    ]
    argv += [f"--customize-hook={hook}" for hook in _freeswitch_hooks(recipe) + _hooks(recipe)]
    argv += ['--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb', recipe.suite, str(tree), recipe.source()]
    return argv


def mmdebstrap_env(recipe: ImageRecipe) -> dict[str, str]:
    env = {"SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)}
    if recipe.freeswitch_source is not None and recipe.freeswitch_source.kind == "signalwire":
        env[TOKEN_VAR] = recipe.freeswitch_source.token
    return env


def debootstrap(recipe: ImageRecipe, tree: Path, apt_cache: Path, log: Path, step: Step) -> None:
    apt_cache.mkdir(parents=True, exist_ok=True)
    argv = mmdebstrap_argv(recipe, tree, apt_cache)

    def on_line(line: str) -> None:
        if line.startswith("I: "):
            step(line[3:][:70])

    _run(argv, log, env=mmdebstrap_env(recipe), on_line=on_line)


def in_tree(tree: Path, path: str) -> Path:
    """`path` inside the tree, with a symlink in its last part followed as the image would (absolute
    links point into the tree, not the host)."""
    host = tree / path.lstrip("/")
    if host.is_symlink():
        target = os.readlink(host)
        return tree / target.lstrip("/") if target.startswith("/") else host.parent / target
    return host


def freeswitch_manifest(recipe: ImageRecipe, tree: Path) -> dict[str, Any]:
    """Whether the image has FreeSWITCH and where it came from; a source that installed no binary is an error."""
    addon, source = recipe.freeswitch_active(), recipe.freeswitch_source
    if addon is None or source is None:
        return {"included": False}
    if not in_tree(tree, "/usr/bin/freeswitch").exists():
        raise LabctlError(f"the FreeSWITCH add-on ({source.kind}) installed no /usr/bin/freeswitch in the image")
    where = {"repository": addon.repository} if source.kind == "signalwire" else {}
    if source.kind == "source":
        where = {"build_digest": recipe.freeswitch_build_digest(), "prefix": PREFIX}
    return {"included": True, **source.fingerprint(), **where}


def mmdebstrap_version() -> str:
    result = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def installed_packages(tree: Path) -> list[str]:
    result = subprocess.run(
        ["dpkg-query", f"--admindir={tree}/var/lib/dpkg", "-W", "-f", "${Package}=${Version}\\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(result.stdout.split())


def boot_files(tree: Path, dest: Path) -> tuple[Path, Path]:
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    initrds = sorted((tree / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise LabctlError(f"the image has no kernel or initrd in {tree / 'boot'}")
    kernel, initrd = dest / "vmlinuz", dest / "initrd.img"
    shutil.copyfile(kernels[-1], kernel)
    shutil.copyfile(initrds[-1], initrd)
    return kernel, initrd


def make_ext4(tree: Path, raw: Path, size_mib: int, fs_uuid: str, log: Path) -> None:
    argv = [
        "mke2fs",
        "-q",
        "-F",
        "-t",
        "ext4",
        "-d",
        str(tree),
        "-L",
        "labroot",
        "-U",
        fs_uuid,
        "-E",
        f"hash_seed={fs_uuid},root_owner=0:0",
        str(raw),
        f"{size_mib}M",
    ]
    _run(argv, log, env={"E2FSPROGS_FAKE_TIME": str(SOURCE_DATE_EPOCH), "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)})


def to_qcow2(raw: Path, disk: Path, log: Path) -> None:
    _run(["qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", str(raw), str(disk)], log)


def build(recipe: ImageRecipe, work: Path, apt_cache: Path, step: Step) -> ImageArtifacts:
    """Build into `work` (an empty folder); the caller moves it into the cache on success."""
    digest = recipe.digest()
    log = work / "build.log"
    tree, raw, disk = work / "tree", work / "root.raw", work / "disk.qcow2"
    step("mmdebstrap: resolving and installing packages")
    debootstrap(recipe, tree, apt_cache, log, step)
    packages = installed_packages(tree)
    freeswitch = freeswitch_manifest(recipe, tree)
    kernel, initrd = boot_files(tree, work)
    step("mke2fs: writing the ext4 filesystem")
    make_ext4(tree, raw, recipe.size_mib, str(uuid.UUID(digest[:32])), log)
    shutil.rmtree(tree)
    step("qemu-img: compressing to qcow2")
    to_qcow2(raw, disk, log)
    raw.unlink()
    step("writing the manifest")
    now = datetime.datetime.now(datetime.UTC)
    manifest = work / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "name": recipe.name,
                "input_digest": digest,
                "suite": recipe.suite,
                "mirror": recipe.mirror,
                "snapshot": recipe.snapshot,
                "kernel_package": recipe.kernel,
                "qcow2_sha256": sha256_file(disk),
                "kernel_sha256": sha256_file(kernel),
                "initrd_sha256": sha256_file(initrd),
                "built": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                # what a replay needs to rebuild it: the Debian snapshot the build corresponds to
                # (the pinned one, or the build's time), the builder and its arguments, the epoch
                "snapshot_date": recipe.snapshot or now.strftime("%Y%m%dT%H%M%SZ"),
                "mmdebstrap": {
                    "version": mmdebstrap_version(),
                    "argv": [
                        a.replace(str(apt_cache), "<apt-cache>").replace(str(tree), "<tree>")
                        for a in mmdebstrap_argv(recipe, tree, apt_cache)
                    ],
                },
                "source_date_epoch": SOURCE_DATE_EPOCH,
                "freeswitch": freeswitch,
                "packages": packages,
            },
            indent=2,
        )
        + "\n"
    )
    return ImageArtifacts(recipe.name, digest, disk, kernel, initrd, manifest)
