"""The folder an extraction writes into: created new (or found empty), checked for room first,
written only below itself, and removed (or emptied again) when the extraction fails."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from labctl.bundle.files import reason
from labctl.bundle.layout import OUTSIDE
from labctl.suggest import escape_unsafe, quoted

FreeBytes = Callable[[Path], int]


class Refused(Exception):
    """One reason a bundle is refused, before the bundle's name is put in front of it."""


def disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


class Folder:
    def __init__(self, dest: Path, free_bytes: FreeBytes = disk_free) -> None:
        self.dest = dest
        self._free_bytes = free_bytes
        self._existed = False
        self._prepared = False

    def prepare(self, needed: int) -> None:
        """Check `dest` can take `needed` bytes, then make it: the first write of an extraction."""
        shown = escape_unsafe(str(self.dest))
        parent = self.dest.parent
        if not parent.is_dir():
            raise Refused(f"cannot extract it: folder {escape_unsafe(str(parent))} does not exist")
        if self.dest.is_symlink() or (self.dest.exists() and not self.dest.is_dir()):
            raise Refused(f"cannot extract it: {shown} is not a folder")
        if self.dest.is_dir() and any(self.dest.iterdir()):
            raise Refused(f"cannot extract it: {shown} is not empty")
        free = self._free_bytes(parent)
        if needed > free:
            raise Refused(f"needs {-(-needed >> 20)} MiB and {escape_unsafe(str(parent))} has {free >> 20} MiB free")
        existed = self.dest.is_dir()
        if not existed:
            try:
                self.dest.mkdir(mode=0o755)
            except OSError as exc:
                raise Refused(f"cannot extract it: cannot make {shown} ({reason(exc)})") from None
        self._existed, self._prepared = existed, True

    def open(self, name: str, executable: bool) -> BinaryIO:
        """A new file for member `name` (a checked path), its folders made, with its final mode."""
        target = self.dest / name
        try:
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            if not target.parent.resolve().is_relative_to(self.dest.resolve()):
                raise Refused(f"member {quoted(name)} {OUTSIDE}")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(target, flags, 0o600)
            os.fchmod(fd, 0o755 if executable else 0o644)
            return os.fdopen(fd, "wb")
        except OSError as exc:
            raise self.cannot_write(name, exc) from None

    def cannot_write(self, name: str, exc: OSError) -> Refused:
        return Refused(f"cannot extract member {quoted(name)} into {escape_unsafe(str(self.dest))} ({reason(exc)})")

    def undo(self) -> None:
        """Remove what this extraction wrote, and only that: nothing before `prepare` made dest."""
        if not self._prepared:
            return
        if not self._existed:
            shutil.rmtree(self.dest, ignore_errors=True)
            return
        for child in self.dest.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
