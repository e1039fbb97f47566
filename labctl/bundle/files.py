"""Opening the files a bundle is read from or made of: regular files only, so a FIFO or a device
cannot hang or feed a save or a replay."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading in binary; OSError (IsADirectoryError for a folder) otherwise."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "it is a folder", str(path))
    if not stat.S_ISREG(mode):
        raise OSError(0, "not a regular file", str(path))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def reason(exc: OSError) -> str:
    """An OSError in a few words, without the path it carries (the message names it already)."""
    return exc.strerror or str(exc)
