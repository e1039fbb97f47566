"""Files a node's QEMU boots from: the lab's own kernel copies, and whether QEMU's own user reaches them."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from labctl.backends.libvirt import dac
from labctl.errors import LabctlError
from labctl.images import ImageArtifacts


def lab_copy(source: Path, folder: Path, digest: str) -> Path:
    """The lab's own copy of an image's kernel or initrd. libvirt hands the files it boots to QEMU's
    user while a domain runs; a QEMU taken over in one lab must not be able to rewrite the kernel
    that every other lab boots from the shared cache. The copy goes when the lab does."""
    target = folder / f"{source.name}-{digest[:12]}"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.")  # 0600
        os.close(fd)
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    return target


def qemu_user_reaches(files: list[Path], private: list[Path]) -> bool:
    """Whether libvirt's unprivileged QEMU user can reach every file of a node (libvirt chowns the
    files, not their folders), once labctl's own `private` folders let it through; if not, QEMU
    keeps running as root. See docs/DESIGN.md."""
    who = dac.qemu_account()
    if who is None or who.uid == 0:
        return False
    dac.let_through(private, who)
    return not dac.blocking_folders(files, who)


def overlay_on(backing: Path, overlay: Path) -> None:
    """A fresh qcow2 overlay over `backing` (whatever was at `overlay` goes), readable by no other
    user: a node's disk holds its secrets."""
    overlay.unlink(missing_ok=True)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(backing), str(overlay)])
    os.chmod(overlay, 0o600)


def boot_files(image: ImageArtifacts, folder: Path, disks: list[Path], private: list[Path]) -> tuple[Path, Path, bool]:
    """The kernel and initrd a domain in `folder` boots (the lab's own copies), and whether its QEMU
    must run as root: when QEMU's own user cannot reach them, the image and `disks` once the
    `private` folders let it through."""
    kernel, initrd = lab_copy(image.kernel, folder, image.digest), lab_copy(image.initrd, folder, image.digest)
    as_root = os.geteuid() == 0 and not qemu_user_reaches([kernel, initrd, image.disk, *disks], private)
    return kernel, initrd, as_root


def run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabctlError(f"{argv[0]} failed: {result.stderr.strip()}")


def audio_file(path: Path, as_root: bool) -> Path:
    """An empty WAV file for QEMU's `file` audio backend to write a desktop's sound into, 0600 and
    owned by the user QEMU runs as (QEMU opens it itself; libvirt does not label audio paths)."""
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    who = None if as_root else dac.qemu_account()
    if who is not None:
        os.chown(path, who.uid, -1)
    return path
