"""Can QEMU run as libvirt's unprivileged user? libvirt's DAC driver chowns a domain's files to
that user while it runs (dynamic_ownership), but it does not touch their folders: each folder
above a file must let the user through. Root's home is 0700, so files under it need QEMU as root.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from labctl.backends.libvirt.daemon import QEMU_CONF

DEFAULT_QEMU_USER = "libvirt-qemu"  # Debian's build default, when qemu.conf sets no user
_USER_LINE = re.compile(r'^\s*user\s*=\s*"([^"]*)"\s*(?:#.*)?\Z')


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gids: frozenset[int]


def configured_user(conf_text: str) -> str:
    """The `user = "..."` of a qemu.conf (the last one wins, as in libvirt), else the default."""
    found = [m.group(1) for line in conf_text.splitlines() if (m := _USER_LINE.match(line))]
    return found[-1] if found else DEFAULT_QEMU_USER


def account(name: str) -> Account | None:
    """The user QEMU would run as; None when it does not exist (libvirt would refuse to start)."""
    spec = name.lstrip("+")
    try:
        entry = pwd.getpwuid(int(spec)) if spec.isdigit() else pwd.getpwnam(spec)
    except (KeyError, ValueError):
        return None
    groups = {g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem}
    return Account(entry.pw_name, entry.pw_uid, frozenset(groups | {entry.pw_gid}))


def qemu_account(conf: Path = Path(QEMU_CONF)) -> Account | None:
    try:
        text = conf.read_text()
    except OSError:
        text = ""
    return account(configured_user(text))


def may_enter(folder: Path, who: Account) -> bool:
    try:
        info = folder.stat()
    except OSError:
        return False
    if who.uid == 0:
        return True
    if info.st_uid == who.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in who.gids:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def blocking_folders(files: Iterable[str | os.PathLike[str]], who: Account) -> list[str]:
    """Folders that stop `who` on the way to any of `files` (resolved), one per file, in order."""
    blocked: list[str] = []
    for file in files:
        path = Path(file).resolve()
        for folder in reversed(path.parents):
            if not may_enter(folder, who):
                if str(folder) not in blocked:
                    blocked.append(str(folder))
                break
    return blocked


def own_group(who: Account) -> int:
    """The group that holds only QEMU's user (Debian's `libvirt-qemu` group), else its primary one."""
    try:
        return grp.getgrnam(who.name).gr_gid
    except KeyError:
        return pwd.getpwnam(who.name).pw_gid


def let_through(folders: Iterable[Path], who: Account) -> None:
    """Let QEMU's user enter (not list) root's private folders on the way to a node's files:
    group `own_group(who)`, mode 0710. Nobody else gains anything."""
    gid = own_group(who)
    for folder in folders:
        info = folder.stat()
        if info.st_gid != gid:
            os.chown(folder, -1, gid)
        if info.st_mode & 0o777 != 0o710:
            folder.chmod(0o710)
