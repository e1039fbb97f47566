"""Writing a bundle: hash the payload once, then stream bundle.json, the manifest and the payload
through tar and zstd into a temporary file beside the output, and rename it into place."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import stat
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from labctl.bundle.files import open_regular, reason
from labctl.bundle.layout import (
    BUNDLE_FORMAT,
    CHUNK,
    INDEX_NAME,
    MANIFEST_NAME,
    BundleIndex,
    Member,
    Progress,
    bundle_error,
    counter,
    index_bytes,
    manifest_bytes,
    names_problem,
    sha256_of,
)
from labctl.errors import BundleError
from labctl.suggest import escape_unsafe

MTIME = 0
"""Every member's mtime: a bundle's bytes depend on its content, not on when files were touched."""


class _Source:
    """A payload file read for the tar: hashes and counts what it hands out, reports progress."""

    def __init__(self, file: BinaryIO, tick: Callable[[int], None]) -> None:
        self._file = file
        self._tick = tick
        self.sha256 = hashlib.sha256()
        self.count = 0
        self.failed = False

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._file.read(size)
        except OSError:
            self.failed = True
            raise
        self.sha256.update(data)
        self.count += len(data)
        self._tick(len(data))
        return data


def write_bundle(
    out: Path,
    index: Mapping[str, Any],
    files: Mapping[str, Path],
    *,
    force: bool = False,
    progress: Progress | None = None,
    level: int = 3,
) -> BundleIndex:
    """Write `files` (member path -> file on disk) with `index` as a bundle at `out`, atomically.
    `progress` counts payload bytes read in both passes (hashing, then compressing). A bad member
    path or index is the caller's bug (ValueError); a file that cannot be read or changes while it
    is saved, or an output that cannot be written, a BundleError naming `out`."""
    bad = names_problem(files)
    if bad:
        raise ValueError(f"bundle member {bad[0]!r} {bad[1]}")
    _check_output(out, force)
    names = sorted(files)
    sizes = {name: _size(out, files[name]) for name in names}
    total = 2 * sum(sizes.values())
    tick = counter(total, progress)

    hashed = {name: _hash(out, files[name], tick) for name in names}
    grown = [name for name in names if hashed[name][1] != sizes[name]]
    if grown:
        raise _changed(out, files[grown[0]])
    contents = tuple(Member(name, hashed[name][0], hashed[name][1]) for name in names)
    raw_index = index_bytes(index, contents)
    written = BundleIndex(BUNDLE_FORMAT, contents, json.loads(raw_index), sha256_of(raw_index))
    temp = out.parent / f".{out.name}.{secrets.token_hex(4)}.partial"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        with os.fdopen(fd, "wb") as raw:
            compressor = zstandard.ZstdCompressor(level=level, threads=-1, write_checksum=True)
            with compressor.stream_writer(raw, closefd=False) as stream, _tar(stream) as tar:
                _add_bytes(tar, INDEX_NAME, raw_index)
                _add_bytes(tar, MANIFEST_NAME, manifest_bytes(written.sha256, contents))
                for member in contents:
                    _add_file(out, tar, member, files[member.path], hashed[member.path][2], tick)
            raw.flush()
            os.fsync(raw.fileno())
        if not force and os.path.lexists(out):
            raise _exists(out)
        os.replace(temp, out)
        _sync_folder(out.parent)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise bundle_error(out, f"cannot write it ({reason(exc)})") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(total, total)
    return written


def _check_output(out: Path, force: bool) -> None:
    if not out.parent.is_dir():
        raise bundle_error(out, f"cannot write it: folder {escape_unsafe(str(out.parent))} does not exist")
    if out.is_dir():
        raise bundle_error(out, "is a folder; give a file name for the bundle")
    if not force and os.path.lexists(out):
        raise _exists(out)


def _size(out: Path, source: Path) -> int:
    try:
        return os.stat(source).st_size
    except OSError as exc:
        raise _unreadable(out, source, exc) from None


def _hash(out: Path, source: Path, tick: Callable[[int], None]) -> tuple[str, int, bool]:
    """(sha256, size, executable) of a payload file, read once."""
    try:
        with open_regular(source) as file:
            executable = bool(os.fstat(file.fileno()).st_mode & stat.S_IXUSR)
            reader = _Source(file, tick)
            while reader.read(CHUNK):
                pass
    except OSError as exc:
        raise _unreadable(out, source, exc) from None
    return reader.sha256.hexdigest(), reader.count, executable


def _tar(stream: Any) -> tarfile.TarFile:
    tar = tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115 (the caller closes it)
    tar.copybufsize = CHUNK  # type: ignore[attr-defined]  # a TarFile attribute the stubs do not know
    return tar


def _info(name: str, size: int, executable: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o755 if executable else 0o644
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_info(name, len(data), False), io.BytesIO(data))


def _add_file(
    out: Path, tar: tarfile.TarFile, member: Member, source: Path, executable: bool, tick: Callable[[int], None]
) -> None:
    """Stream one payload file into the tar, checking it is still the file that was hashed. An
    OSError that is neither the file's nor its shrinking is the output's, for the caller."""
    changed = _changed(out, source)
    reader: _Source | None = None
    try:
        with open_regular(source) as file:
            reader = _Source(file, tick)
            tar.addfile(_info(member.path, member.size, executable), reader)
    except OSError as exc:
        if reader is None or reader.failed:
            raise _unreadable(out, source, exc) from None
        if reader.count < member.size:
            raise changed from None
        raise
    if reader.count != member.size or reader.sha256.hexdigest() != member.sha256:
        raise changed


def _exists(out: Path) -> BundleError:
    return bundle_error(out, "already exists; refused to overwrite it")


def _unreadable(out: Path, source: Path, exc: OSError) -> BundleError:
    return bundle_error(out, f"cannot read {escape_unsafe(str(source))} ({reason(exc)})")


def _changed(out: Path, source: Path) -> BundleError:
    return bundle_error(out, f"{escape_unsafe(str(source))} changed while the bundle was written; nothing written")


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
