"""Reading a bundle: its index alone, or every member in one streaming pass, checked against
bundle.json and the manifest, either only hashed (verify) or written under a new folder (extract).
Nothing is trusted before it is checked, and an extraction that fails leaves no trace."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from labctl.bundle.files import open_regular, reason
from labctl.bundle.layout import (
    INDEX_NAME,
    MANIFEST_NAME,
    MAX_META_BYTES,
    OUTSIDE,
    BundleIndex,
    bundle_error,
    manifest_problem,
    name_problem,
    parse_index,
)
from labctl.bundle.sniff import SNIFF_BYTES, not_a_bundle
from labctl.bundle.zstdframe import FrameDamage, FrameGuard
from labctl.errors import BundleError, LabctlError
from labctl.suggest import escape_unsafe, quoted

Progress = Callable[[int, int], None]
FreeBytes = Callable[[Path], int]

CHUNK = 1 << 20
VERIFY_ROOT = Path("/nonexistent/labctl-bundle")
"""Where tarfile's data filter pretends a verified (not extracted) bundle lands."""

_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.DIRTYPE: "a folder",
}


class _Refused(Exception):
    """One reason a bundle is refused, before the file's name is put in front of it."""


class _Folder:
    """Where an extraction writes: a new folder, removed (or emptied, if it was there) on failure."""

    def __init__(self, dest: Path, free_bytes: FreeBytes) -> None:
        self.dest = dest
        self._free_bytes = free_bytes
        self._existed = False
        self._prepared = False

    def prepare(self, needed: int) -> None:
        parent = self.dest.parent
        if not parent.is_dir():
            raise _Refused(f"cannot extract it: folder {escape_unsafe(str(parent))} does not exist")
        if self.dest.is_symlink() or (self.dest.exists() and not self.dest.is_dir()):
            raise _Refused(f"cannot extract it: {escape_unsafe(str(self.dest))} is not a folder")
        if self.dest.is_dir() and any(self.dest.iterdir()):
            raise _Refused(f"cannot extract it: {escape_unsafe(str(self.dest))} is not empty")
        free = self._free_bytes(parent)
        if needed > free:
            raise _Refused(f"needs {-(-needed >> 20)} MiB and {escape_unsafe(str(parent))} has {free >> 20} MiB free")
        self._existed = self.dest.is_dir()
        if not self._existed:
            self.dest.mkdir(mode=0o755)
        self._prepared = True

    def open(self, name: str, executable: bool) -> BinaryIO:
        target = self.dest / name
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(self.dest.resolve()):
            raise _Refused(f"member {quoted(name)} {OUTSIDE}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(target, flags, 0o600)
        os.fchmod(fd, 0o755 if executable else 0o644)
        return os.fdopen(fd, "wb")

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


def read_index(path: Path) -> BundleIndex:
    """bundle.json of the bundle at `path`, checked; the rest of the bundle is not read."""
    with _refusals(path), _members(path) as (tar, guard):
        return _index(tar, guard)[0]


def verify_bundle(path: Path, *, progress: Progress | None = None) -> BundleIndex:
    """Every check an extraction makes, without writing anything: a bundle that passes extracts."""
    with _refusals(path), _members(path) as (tar, guard):
        return _walk(tar, guard, None, progress)


def extract_bundle(
    path: Path, dest: Path, *, free_bytes: FreeBytes | None = None, progress: Progress | None = None
) -> BundleIndex:
    """Extract the bundle at `path` into `dest`, a folder that does not exist yet (or is empty),
    after checking the room its members need. Any failure removes what was written: only `dest`
    is ever touched."""
    folder = _Folder(dest, free_bytes or (lambda p: shutil.disk_usage(p).free))
    try:
        with _refusals(path), _members(path) as (tar, guard):
            return _walk(tar, guard, folder, progress)
    except BaseException:
        folder.undo()
        raise


@contextlib.contextmanager
def _refusals(path: Path) -> Iterator[None]:
    """Every way a bundle can be bad, as one BundleError line naming `path`."""
    try:
        yield
    except BundleError:
        raise
    except _Refused as exc:
        raise bundle_error(path, str(exc)) from None
    except LabctlError as exc:  # a newer format
        raise bundle_error(path, str(exc)) from None
    except FileNotFoundError:
        raise bundle_error(path, "file not found") from None
    except IsADirectoryError:
        raise bundle_error(path, "is a folder, not a labctl bundle") from None
    except OSError as exc:
        raise bundle_error(path, f"cannot read it ({reason(exc)})") from None


@contextlib.contextmanager
def _members(path: Path) -> Iterator[tuple[tarfile.TarFile, FrameGuard]]:
    """The tar inside the bundle, opened for streaming, once its first bytes say zstd."""
    with open_regular(path) as raw:
        kind = not_a_bundle(raw.read(SNIFF_BYTES))
        if kind:
            raise _Refused(f"is not a labctl bundle ({kind})")
        raw.seek(0)
        guard = FrameGuard(raw)
        reader = zstandard.ZstdDecompressor().stream_reader(
            guard,  # type: ignore[arg-type]  # it has read(), all a source needs
            read_size=CHUNK,
            read_across_frames=False,
        )
        with reader:
            try:
                with _damage(guard, "at its start"):
                    tar = tarfile.open(fileobj=reader, mode="r|")  # noqa: SIM115 (closed just below)
            except tarfile.ReadError:
                raise _Refused("is not a labctl bundle (zstd data, but no tar inside)") from None
            with tar:
                yield tar, guard


@contextlib.contextmanager
def _damage(guard: FrameGuard, where: str) -> Iterator[None]:
    """Errors of zstd, tar or the frame structure, as damage `where` (after, in a member). A file
    that ended before its frame says so, whatever error the cut caused first. A tar that is not
    one at all is left to the caller (tarfile.ReadError) while the frame is still whole."""
    try:
        yield
    except FrameDamage as exc:
        raise _Refused(f"is damaged ({exc})") from None
    except (zstandard.ZstdError, tarfile.TarError, EOFError) as exc:
        if guard.cut_short:
            raise _Refused(f"is damaged {where} (the file is cut short)") from None
        if where == "at its start" and isinstance(exc, tarfile.ReadError):
            raise
        raise _Refused(f"is damaged {where} ({escape_unsafe(str(exc)) or type(exc).__name__})") from None


def _next(tar: tarfile.TarFile, guard: FrameGuard, after: str | None) -> tarfile.TarInfo | None:
    with _damage(guard, f"after member {quoted(after)}" if after else "at its start"):
        return tar.next()


def _index(tar: tarfile.TarFile, guard: FrameGuard) -> tuple[BundleIndex, bytes]:
    """The first member, bundle.json: parsed, and its bytes."""
    first = _next(tar, guard, None)
    if first is None or first.name != INDEX_NAME:
        raise _Refused(f"is not a labctl bundle ({INDEX_NAME} is not its first member)")
    raw = _small(tar, guard, first)
    try:
        return parse_index(raw), raw
    except ValueError as exc:
        raise _Refused(str(exc)) from None


def _small(tar: tarfile.TarFile, guard: FrameGuard, member: tarfile.TarInfo) -> bytes:
    """A metadata member, read whole (it is small: bigger is refused unread)."""
    _check_member(member, VERIFY_ROOT)
    if member.size > MAX_META_BYTES:
        raise _Refused(f"member {quoted(member.name)} is larger than {MAX_META_BYTES >> 20} MiB")
    with _damage(guard, f"in member {quoted(member.name)}"):
        file = tar.extractfile(member)
        data: bytes = file.read() if file else b""
    return data


def _walk(tar: tarfile.TarFile, guard: FrameGuard, folder: _Folder | None, progress: Progress | None) -> BundleIndex:
    """Read every member in order, checking each before anything of it is written."""
    index, index_raw = _index(tar, guard)
    second = _next(tar, guard, INDEX_NAME)
    if second is None or second.name != MANIFEST_NAME:
        raise _Refused(f"is not a labctl bundle ({MANIFEST_NAME} is not its second member)")
    manifest = _small(tar, guard, second)
    problem = manifest_problem(manifest, index)
    if problem:
        raise _Refused(problem)
    total = len(index_raw) + len(manifest) + index.payload_size
    done = 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None and count:
            progress(done, total)

    if folder is not None:
        folder.prepare(total)
        _write_whole(folder, INDEX_NAME, index_raw)
        _write_whole(folder, MANIFEST_NAME, manifest)
    tick(len(index_raw) + len(manifest))
    root = folder.dest if folder else VERIFY_ROOT
    expected = {m.path: m for m in index.contents}
    seen: set[str] = set()
    after = MANIFEST_NAME
    while (member := _next(tar, guard, after)) is not None:
        name = member.name
        _check_member(member, root)
        if name in seen or name in (INDEX_NAME, MANIFEST_NAME):
            raise _Refused(f"member {quoted(name)} appears twice")
        listed = expected.get(name)
        if listed is None:
            raise _Refused(f"member {quoted(name)} is not listed in {INDEX_NAME}")
        if member.size != listed.size:
            raise _Refused(f"member {quoted(name)} has {member.size} bytes; {INDEX_NAME} says {listed.size}")
        seen.add(name)
        digest = _copy(tar, guard, member, folder, tick)
        if digest != listed.sha256:
            raise _Refused(
                f"member {quoted(name)} fails its checksum (sha256 {digest[:16]}..., expected {listed.sha256[:16]}...)"
            )
        after = name
    missing = [m.path for m in index.contents if m.path not in seen]
    if missing:
        raise _Refused(f"member {quoted(missing[0])} is listed in {INDEX_NAME} but missing")
    with _damage(guard, "after its last member"):
        stream: Any = tar.fileobj
        while stream.read(CHUNK):
            pass
        guard.finish()
    if progress is not None:
        progress(total, total)
    return index


def _check_member(member: tarfile.TarInfo, root: Path) -> None:
    """Our rules first (their messages are clearer), then tarfile's own `data` filter."""
    name = member.name
    problem = name_problem(name)
    if problem:
        raise _Refused(f"member {quoted(name)} {problem}")
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        kind = _KINDS.get(member.type, f"not a regular file (tar type {quoted(member.type.decode('latin-1'))})")
        raise _Refused(f"member {quoted(name)} is {kind}: a bundle holds only regular files")
    try:
        tarfile.data_filter(member, str(root))
    except tarfile.FilterError as exc:
        raise _Refused(
            f"member {quoted(name)} is refused by tarfile's data filter ({escape_unsafe(str(exc))})"
        ) from None


def _write_whole(folder: _Folder, name: str, data: bytes) -> None:
    with folder.open(name, False) as out:
        out.write(data)


def _copy(
    tar: tarfile.TarFile,
    guard: FrameGuard,
    member: tarfile.TarInfo,
    folder: _Folder | None,
    tick: Callable[[int], None],
) -> str:
    """Stream one member to its file (or nowhere, when verifying); its sha256."""
    sha256 = hashlib.sha256()
    out = folder.open(member.name, bool(member.mode & 0o100)) if folder else None
    with contextlib.ExitStack() as stack:
        if out is not None:
            stack.enter_context(out)
        with _damage(guard, f"in member {quoted(member.name)}"):
            source = tar.extractfile(member)
            while source and (chunk := source.read(CHUNK)):
                sha256.update(chunk)
                if out is not None:
                    out.write(chunk)
                tick(len(chunk))
    return sha256.hexdigest()
