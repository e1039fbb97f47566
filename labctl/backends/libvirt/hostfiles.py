"""Files a node's QEMU boots from: the lab's own kernel copies, and whether QEMU's own user reaches them."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from labctl.backends.libvirt import dac
from labctl.errors import LabctlError


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


def run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabctlError(f"{argv[0]} failed: {result.stderr.strip()}")
