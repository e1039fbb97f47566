"""Reading a bundle: its index alone, or every member in one streaming pass, checked against
bundle.json and the manifest, either only hashed (verify) or written under a new folder (extract).
Nothing is trusted before it is checked, and an extraction that fails leaves no trace."""

from __future__ import annotations

import contextlib
import hashlib
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO, Protocol, cast

import zstandard

from labctl.bundle.files import open_regular, reason
from labctl.bundle.folder import Folder, FreeBytes, Refused, disk_free
from labctl.bundle.layout import (
    CHUNK,
    INDEX_NAME,
    MANIFEST_NAME,
    MAX_META_BYTES,
    BundleIndex,
    Progress,
    bundle_error,
    counter,
    manifest_problem,
    name_problem,
    parse_index,
)
from labctl.bundle.sniff import SNIFF_BYTES, not_a_bundle
from labctl.bundle.zstdframe import FrameDamage, FrameGuard
from labctl.errors import BundleError, LabctlError
from labctl.suggest import escape_unsafe, quoted

HEADER_ROOM = 1 << 20
"""What one tar header may take, pax records included (tarfile reads those whole)."""
SLACK = 4 * CHUNK
"""tarfile reads ahead by up to a buffer; the budget allows for it."""
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


def read_index(path: Path) -> BundleIndex:
    """bundle.json of the bundle at `path`, checked; the rest of the bundle is not read."""
    with _refusals(path), _Stream.open(path) as stream:
        return stream.index()[0]


def verify_bundle(path: Path, *, progress: Progress | None = None) -> BundleIndex:
    """Every check an extraction makes, without writing anything: a bundle that passes extracts."""
    with _refusals(path), _Stream.open(path) as stream:
        return stream.walk(None, progress)


def extract_bundle(
    path: Path, dest: Path, *, free_bytes: FreeBytes | None = None, progress: Progress | None = None
) -> BundleIndex:
    """Extract the bundle at `path` into `dest`, a folder that does not exist yet (or is empty),
    after checking the room its members need. Any failure, Ctrl-C included, removes what was
    written: only `dest` is ever touched."""
    folder = Folder(dest, free_bytes or disk_free)
    try:
        with _refusals(path), _Stream.open(path) as stream:
            return stream.walk(folder, progress)
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
    except (Refused, LabctlError) as exc:  # LabctlError: a newer format
        raise bundle_error(path, str(exc)) from None
    except FileNotFoundError:
        raise bundle_error(path, "file not found") from None
    except IsADirectoryError:
        raise bundle_error(path, "is a folder, not a labctl bundle") from None
    except OSError as exc:
        raise bundle_error(path, f"cannot read it ({reason(exc)})") from None


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Budget:
    """Between zstd and tarfile: decompresses no more than the step at hand needs, so a hostile
    header (a pax record of gigabytes, which tarfile reads whole) cannot fill the memory."""

    def __init__(self, source: _Readable) -> None:
        self._source = source
        self._count = 0
        self._limit = 0
        self.allow(HEADER_ROOM)

    def allow(self, more: int) -> None:
        self._limit = self._count + more + SLACK

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._count += len(data)
        if self._count > self._limit:
            raise Refused("is damaged (a tar header is larger than a bundle ever needs)")
        return data


class _Stream:
    """The tar inside a bundle, read once from start to end; every read error is damage."""

    def __init__(self, tar: tarfile.TarFile, guard: FrameGuard, budget: _Budget) -> None:
        self._tar = tar
        self._guard = guard
        self._budget = budget

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: Path) -> Iterator[_Stream]:
        """The stream of the bundle at `path`, once its first bytes say zstd."""
        with open_regular(path) as raw:
            kind = not_a_bundle(raw.read(SNIFF_BYTES))
            if kind:
                raise Refused(f"is not a labctl bundle ({kind})")
            raw.seek(0)
            guard = FrameGuard(raw)
            source = cast(IO[bytes], guard)  # it has read(), all a source needs
            reader = zstandard.ZstdDecompressor().stream_reader(source, read_size=CHUNK, read_across_frames=False)
            budget = _Budget(reader)
            with reader:
                try:
                    with _damage(guard, "at its start"):
                        tar = tarfile.open(fileobj=cast(IO[bytes], budget), mode="r|", bufsize=CHUNK)  # noqa: SIM115
                except tarfile.ReadError:
                    raise Refused("is not a labctl bundle (zstd data, but no tar inside)") from None
                with tar:
                    yield cls(tar, guard, budget)

    def next(self, after: str | None) -> tarfile.TarInfo | None:
        self._budget.allow(HEADER_ROOM)
        with _damage(self._guard, f"after member {quoted(after)}" if after else "at its start"):
            return self._tar.next()

    def index(self) -> tuple[BundleIndex, bytes]:
        """The first member, bundle.json: parsed, and its bytes."""
        first = self.next(None)
        if first is None or first.name != INDEX_NAME:
            raise Refused(f"is not a labctl bundle ({INDEX_NAME} is not its first member)")
        raw = self.small(first)
        try:
            return parse_index(raw), raw
        except ValueError as exc:
            raise Refused(str(exc)) from None

    def small(self, member: tarfile.TarInfo) -> bytes:
        """A metadata member, read whole (it is small: bigger is refused unread)."""
        _check_member(member, VERIFY_ROOT)
        if member.size > MAX_META_BYTES:
            raise Refused(f"member {quoted(member.name)} is larger than {MAX_META_BYTES >> 20} MiB")
        data = bytearray()
        self.copy(member, data.extend)
        return bytes(data)

    def copy(self, member: tarfile.TarInfo, sink: Callable[[bytes], object]) -> str:
        """Stream one member's bytes to `sink`; their sha256."""
        sha256 = hashlib.sha256()
        self._budget.allow(member.size)
        with _damage(self._guard, f"in member {quoted(member.name)}"):
            source = self._tar.extractfile(member)
            while source and (chunk := source.read(CHUNK)):
                sha256.update(chunk)
                sink(chunk)
        return sha256.hexdigest()

    def finish(self) -> None:
        """Past the tar's end: only padding may follow, then the frame must end with the file."""
        self._budget.allow(HEADER_ROOM)
        with _damage(self._guard, "after its last member"):
            while self._budget.read(CHUNK):
                pass
            self._guard.finish()

    def walk(self, folder: Folder | None, progress: Progress | None) -> BundleIndex:
        """Read every member in order, checking each before anything of it is written."""
        index, index_raw = self.index()
        second = self.next(INDEX_NAME)
        if second is None or second.name != MANIFEST_NAME:
            raise Refused(f"is not a labctl bundle ({MANIFEST_NAME} is not its second member)")
        manifest = self.small(second)
        problem = manifest_problem(manifest, index)
        if problem:
            raise Refused(problem)
        total = len(index_raw) + len(manifest) + index.payload_size
        tick = counter(total, progress)

        if folder is not None:
            folder.prepare(total)
            _write(folder, INDEX_NAME, False, lambda out: out.write(index_raw))
            _write(folder, MANIFEST_NAME, False, lambda out: out.write(manifest))
        tick(len(index_raw) + len(manifest))
        root = folder.dest if folder else VERIFY_ROOT
        expected = {m.path: m for m in index.contents}
        seen: set[str] = set()
        after = MANIFEST_NAME
        while (member := self.next(after)) is not None:
            name = member.name
            _check_member(member, root)
            if name in seen or name in (INDEX_NAME, MANIFEST_NAME):
                raise Refused(f"member {quoted(name)} appears twice")
            listed = expected.get(name)
            if listed is None:
                raise Refused(f"member {quoted(name)} is not listed in {INDEX_NAME}")
            if member.size != listed.size:
                raise Refused(f"member {quoted(name)} has {member.size} bytes; {INDEX_NAME} says {listed.size}")
            seen.add(name)
            digest = self._payload(member, folder, tick)
            if digest != listed.sha256:
                found = f"sha256 {digest[:16]}..., expected {listed.sha256[:16]}..."
                raise Refused(f"member {quoted(name)} fails its checksum ({found})")
            after = name
        missing = [m.path for m in index.contents if m.path not in seen]
        if missing:
            raise Refused(f"member {quoted(missing[0])} is listed in {INDEX_NAME} but missing")
        self.finish()
        if progress is not None:
            progress(total, total)
        return index

    def _payload(self, member: tarfile.TarInfo, folder: Folder | None, tick: Callable[[int], None]) -> str:
        if folder is None:
            return self.copy(member, lambda chunk: tick(len(chunk)))
        digest = ""

        def copy(out: BinaryIO) -> None:
            nonlocal digest

            def sink(chunk: bytes) -> None:
                out.write(chunk)
                tick(len(chunk))

            digest = self.copy(member, sink)

        _write(folder, member.name, bool(member.mode & 0o100), copy)
        return digest


@contextlib.contextmanager
def _damage(guard: FrameGuard, where: str) -> Iterator[None]:
    """Errors of zstd, tar or the frame structure, as damage `where` (after, in a member). A file
    that ended before its frame says so, whatever error the cut caused first. A tar that is not
    one at all is left to the caller (tarfile.ReadError) while the frame is still whole."""
    try:
        yield
    except FrameDamage as exc:
        raise Refused(f"is damaged ({exc})") from None
    except (zstandard.ZstdError, tarfile.TarError, EOFError) as exc:
        if guard.cut_short:
            raise Refused(f"is damaged {where} (the file is cut short)") from None
        if where == "at its start" and isinstance(exc, tarfile.ReadError):
            raise
        raise Refused(f"is damaged {where} ({escape_unsafe(str(exc)) or type(exc).__name__})") from None


def _write(folder: Folder, name: str, executable: bool, fill: Callable[[BinaryIO], object]) -> None:
    """One file under the folder; a write error (a full disk) is the folder's, not the bundle's."""
    with folder.open(name, executable) as out:
        try:
            fill(out)
        except OSError as exc:
            raise folder.cannot_write(name, exc) from None


def _check_member(member: tarfile.TarInfo, root: Path) -> None:
    """Our rules first (their messages are clearer), then tarfile's own `data` filter."""
    name = member.name
    problem = name_problem(name)
    if problem:
        raise Refused(f"member {quoted(name)} {problem}")
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        kind = _KINDS.get(member.type, f"not a regular file (tar type {quoted(member.type.decode('latin-1'))})")
        raise Refused(f"member {quoted(name)} is {kind}: a bundle holds only regular files")
    try:
        tarfile.data_filter(member, str(root))
    except tarfile.FilterError as exc:
        why = escape_unsafe(str(exc))
        raise Refused(f"member {quoted(name)} is refused by tarfile's data filter ({why})") from None
