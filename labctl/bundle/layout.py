"""What a bundle holds, independent of how it is stored: the member names a bundle may use, its
index (bundle.json) and its checksum manifest. Pure: bytes and names in, values or one-line
problems out."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl import __version__
from labctl.errors import BundleError, Problem
from labctl.suggest import escape_unsafe, is_unsafe_char, quoted
from labctl.versions import FORMAT_KEY, Migration, check_format, upgrade

BUNDLE_FORMAT = 2
"""The bundle format this labctl writes, and the newest it reads. 2: nodes' disks and the lab's
secrets (`save --with-disks`); a labctl that reads only 1 would replay such a bundle without them."""


def _no_disks(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "disks": [], "secrets": None}


BUNDLE_MIGRATIONS: Mapping[int, Migration] = {1: _no_disks}
"""n -> n+1 steps for bundle.json."""

INDEX_NAME = "bundle.json"
MANIFEST_NAME = "manifest-sha256.txt"
RESERVED = (INDEX_NAME, MANIFEST_NAME)
"""The first two members, in this order; no payload member may use these names."""
CONTENTS_KEY = "contents"
MAX_META_BYTES = 16 << 20
"""bundle.json and the manifest are read whole: a bigger one is refused unread."""
MAX_NAME = 1024
MAX_PART = 255
SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")
OUTSIDE = "would land outside the lab's folder"

Progress = Callable[[int, int], None]
"""(bytes done, bytes total)."""

CHUNK = 1 << 20
"""How much of a file is read or written at a time."""


def counter(total: int, progress: Progress | None) -> Callable[[int], None]:
    """tick(count): adds `count` bytes and tells `progress` how far the whole (`total`) has come."""
    done = 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None and count:
            progress(done, total)

    return tick


@dataclass(frozen=True)
class BundleProblem(Problem):
    """A problem with a whole bundle, not a line in it: `file: message`."""

    def __str__(self) -> str:
        return f"{escape_unsafe(str(self.path))}: {self.message}"


def bundle_error(path: Path, message: str) -> BundleError:
    return BundleError([BundleProblem(path, 0, message)])


@dataclass(frozen=True)
class Member:
    """One payload file of a bundle, as bundle.json lists it."""

    path: str
    sha256: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class BundleIndex:
    """bundle.json, read: the format it was written in, the payload it lists, and the whole object,
    brought up to this labctl's format, for the caller's own keys (lab name, labctl version, ...)."""

    format: int
    contents: tuple[Member, ...]
    data: Mapping[str, Any] = field(compare=False)
    sha256: str = ""
    """Of bundle.json's bytes, as the manifest lists it."""

    def member(self, path: str) -> Member | None:
        return next((m for m in self.contents if m.path == path), None)

    @property
    def payload_size(self) -> int:
        return sum(m.size for m in self.contents)


def written_by(now: datetime.datetime | None = None) -> dict[str, str]:
    """The index keys that say which labctl wrote a bundle, and when (UTC, to the second)."""
    when = (now or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC).replace(microsecond=0)
    return {"labctl": __version__, "written": when.isoformat().replace("+00:00", "Z")}


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a bundle member's path, or None: a relative POSIX path of plain parts,
    printable, no backslash (so the manifest needs no escapes), of a sane length."""
    if not name:
        return "has an empty name"
    if name.startswith("/"):
        return f"{OUTSIDE} (an absolute path)"
    parts = name.split("/")
    if ".." in parts:
        return OUTSIDE
    if any(part in ("", ".") for part in parts):
        return "is not a plain relative path (an empty or '.' part)"
    if any(is_unsafe_char(c) or c == "\\" for c in name):
        return "has a control character or a backslash in its name"
    if len(name) > MAX_NAME or any(len(part.encode("utf-8", "surrogatepass")) > MAX_PART for part in parts):
        return "has a name too long for a file system"
    return None


def names_problem(names: Iterable[str]) -> tuple[str, str] | None:
    """(name, why) for the first of a set of payload names that cannot be, or None: each valid,
    none reserved, none twice, and none both a file and the folder of another."""
    seen: set[str] = set()
    for name in names:
        problem = name_problem(name)
        if problem:
            return name, problem
        if name in RESERVED:
            return name, "uses a name the bundle itself needs"
        if name in seen:
            return name, "is listed twice"
        seen.add(name)
    for name in sorted(seen):
        parts = name.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in seen:
                return name, f"is inside {quoted('/'.join(parts[:depth]))}, which is a file"
    return None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def index_bytes(index: Mapping[str, Any], contents: Iterable[Member]) -> bytes:
    """bundle.json: the caller's keys between "format" and "contents". Its own keys are refused,
    and so is anything JSON cannot hold (programming errors: ValueError)."""
    clash = sorted(k for k in index if k in (FORMAT_KEY, CONTENTS_KEY) or not isinstance(k, str))
    if clash:
        raise ValueError(f"bundle index keys {clash} are the bundle's own or not strings")
    data = {FORMAT_KEY: BUNDLE_FORMAT, **index, CONTENTS_KEY: [m.as_json() for m in contents]}
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bundle index cannot be written as JSON ({exc})") from None
    return (text + "\n").encode()


def manifest_bytes(index_sha256: str, contents: Iterable[Member]) -> bytes:
    """`sha256sum -c` lines for bundle.json and every payload member, in the index's order."""
    lines = [f"{index_sha256}  {INDEX_NAME}"] + [f"{m.sha256}  {m.path}" for m in contents]
    return ("\n".join(lines) + "\n").encode()


def manifest_problem(found: bytes, index: BundleIndex) -> str | None:
    """Why the manifest read from a bundle is not the one its bundle.json implies, or None."""
    expected = manifest_bytes(index.sha256, index.contents)
    if found == expected:
        return None
    listed: dict[str, str] = {}
    for line in found.decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition("  ")
        listed.setdefault(name, digest)
    for name, digest in [(INDEX_NAME, index.sha256)] + [(m.path, m.sha256) for m in index.contents]:
        if listed.get(name) != digest:
            return f"{MANIFEST_NAME} disagrees with {INDEX_NAME} about {quoted(name)}"
    return f"{MANIFEST_NAME} lists more than {INDEX_NAME}, or in another form"


def parse_index(raw: bytes) -> BundleIndex:
    """bundle.json's bytes, checked and brought up to date, or ValueError/LabctlError with the
    reason in one line (the caller names the file)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{INDEX_NAME} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{INDEX_NAME} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{INDEX_NAME} is not a JSON object")
    try:
        found = check_format("this bundle", data.get(FORMAT_KEY), BUNDLE_FORMAT)
    except ValueError:
        raise ValueError(f"{INDEX_NAME} has no valid format version ({quoted(data.get(FORMAT_KEY))})") from None
    data = upgrade(data, found, BUNDLE_FORMAT, BUNDLE_MIGRATIONS)
    contents = tuple(_member(i, entry) for i, entry in enumerate(_list(data.get(CONTENTS_KEY))))
    bad = names_problem(m.path for m in contents)
    if bad:
        raise ValueError(f"{INDEX_NAME} lists member {quoted(bad[0])}, which {bad[1]}")
    return BundleIndex(found, contents, data, sha256_of(raw))


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{INDEX_NAME} has no '{CONTENTS_KEY}' list")
    return value


def _member(position: int, entry: Any) -> Member:
    where = f"{INDEX_NAME} '{CONTENTS_KEY}' entry {position + 1}"
    if not isinstance(entry, dict) or set(entry) != {"path", "sha256", "size"}:
        raise ValueError(f"{where} is not a mapping of path, sha256 and size")
    path, digest, size = entry["path"], entry["sha256"], entry["size"]
    if not isinstance(path, str):
        raise ValueError(f"{where} has a path that is not text")
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise ValueError(f"{where} has a sha256 that is not 64 lower-case hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"{where} has a size that is not a whole number of bytes")
    return Member(path, digest, size)
