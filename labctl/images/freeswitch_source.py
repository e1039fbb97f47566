"""FreeSWITCH from source: what is built (three upstream commits, the modules, the build steps),
where the sources come from (a folder of `git archive` tarballs), and their verification.

The recipe names each source by git URL and commit. A tarball is accepted only when SHA256SUMS
beside it lists its checksum, the file has that checksum, and its pax header (what
`git get-tar-commit-id` reads) names the recipe's commit.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.images.checksum import sha256_file
from labctl.paths import project_home

SRC_VAR = "LABCTL_FREESWITCH_SRC"
SUMS_FILE = "SHA256SUMS"
BUILD_ORDER = ("spandsp", "sofia-sip", "freeswitch")  # each needs the ones before it
BUILD_FORMAT = 1
"""Bumped when the build steps or the packed result change; part of the cache key."""
COMMIT = re.compile(r"[0-9a-f]{40}")
HOW_TO_PROVIDE = (
    f"set {SRC_VAR}=/dir (a folder of `git archive` tarballs of FreeSWITCH, sofia-sip and spandsp "
    f"with a {SUMS_FILE}, like ../shared/vendor/freeswitch/) and rebuild the image (labctl image build)"
)

PREFIX = "/usr/local/freeswitch"  # --disable-fhs: the classic bin/ conf/ lib/ mod/ tree under it
LIBS = "/usr/local"  # spandsp and sofia-sip
# Run in the build root with sh -e, $JOBS set; the flags are measured ones (see docs/DESIGN.md).
STAGES: tuple[tuple[str, str], ...] = (
    ("spandsp configure", "cd /build/spandsp && ./bootstrap.sh && ./configure --prefix=/usr/local --disable-static"),
    ("spandsp make", "cd /build/spandsp && make -j$JOBS && make install && ldconfig"),
    (
        "sofia-sip configure",
        "cd /build/sofia-sip && ./bootstrap.sh && ./configure --prefix=/usr/local --disable-static"
        " --with-glib=no --without-doxygen --disable-stun",
    ),
    ("sofia-sip make", "cd /build/sofia-sip && make -j$JOBS && make install && ldconfig"),
    ("FreeSWITCH bootstrap", "cd /build/freeswitch && ./bootstrap.sh -j"),
    (
        "FreeSWITCH configure",
        f"cd /build/freeswitch && ./configure --prefix={PREFIX} --disable-fhs"
        " --disable-libvpx --disable-libyuv --disable-core-odbc-support",
    ),
    ("FreeSWITCH make", "cd /build/freeswitch && make -j$JOBS"),
    (
        "FreeSWITCH install",
        # the runtime only: no headers, libtool archives, static libraries, fonts or web pages; stripped
        f"cd /build/freeswitch && make install && cd {PREFIX} && rm -rf include fonts htdocs images lib/pkgconfig"
        f" && find {PREFIX} {LIBS}/lib \\( -name '*.la' -o -name '*.a' \\) -delete"
        f" && find {PREFIX}/bin {PREFIX}/lib {PREFIX}/mod {LIBS}/lib -type f"
        " -exec sh -c 'for f; do strip --strip-unneeded \"$f\" 2>/dev/null || :; done' sh {} +",
    ),
)
PACKED = ("usr/local/freeswitch", "usr/local/lib/libspandsp.so*", "usr/local/lib/libsofia-sip-ua.so*")
"""What the result holds, relative to the build root."""


def script_text() -> str:
    """Every step of the build, as part of the cache key."""
    return "\n".join(f"# {title}\n{command}" for title, command in STAGES) + "\n# packed: " + " ".join(PACKED)


def default_folder() -> Path:
    """../shared/vendor/freeswitch from the project root: used when it exists and nothing else is set."""
    return project_home().resolve().parent / "shared" / "vendor" / "freeswitch"


@dataclass(frozen=True)
class Upstream:
    """One source as the recipe names it; `name` is also the tarball's file-name prefix."""

    name: str
    git: str
    commit: str


@dataclass(frozen=True)
class SourceBuild:
    """The `freeswitch: build:` section of an image recipe."""

    sources: tuple[Upstream, ...]  # in BUILD_ORDER
    modules: tuple[str, ...]  # modules.conf lines, e.g. endpoints/mod_sofia
    build_packages: tuple[str, ...]  # -dev packages of the build root
    runtime_packages: tuple[str, ...]  # Debian packages the image needs to run the result


@dataclass(frozen=True)
class Tarball:
    upstream: Upstream
    path: Path
    sha256: str  # as SHA256SUMS lists it


def read_sums(folder: Path) -> dict[str, str]:
    """file name -> sha256 from SHA256SUMS (sha256sum's format; a '*' before the name means binary)."""
    path = folder / SUMS_FILE
    try:
        text = path.read_text()
    except OSError as exc:
        raise LabctlError(f"{path}: cannot read the checksums of the FreeSWITCH sources ({exc.strerror})") from None
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().removeprefix("*")
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or not name:
            raise LabctlError(f"{path}:{number}: not a sha256sum line: {line[:80]!r}")
        sums[name] = digest
    return sums


def locate(folder: Path, sources: tuple[Upstream, ...]) -> tuple[Tarball, ...]:
    """Each source's tarball in `folder` with its listed checksum; reads only names and SHA256SUMS (cheap)."""
    if not folder.is_dir():
        raise LabctlError(f"{SRC_VAR}={folder}: no such folder; {HOW_TO_PROVIDE}")
    sums = read_sums(folder)
    found = []
    for upstream in sources:
        files = sorted(p for p in folder.glob(f"{upstream.name}-*.tar*") if p.is_file())
        if len(files) != 1:
            which = ", ".join(p.name for p in files) if files else "none"
            raise LabctlError(
                f"{folder}: need exactly one {upstream.name}-*.tar* tarball of {upstream.git} "
                f"commit {upstream.commit[:12]}, found {which}"
            )
        if files[0].name not in sums:
            raise LabctlError(f"{files[0]}: not listed in {folder / SUMS_FILE}")
        found.append(Tarball(upstream, files[0], sums[files[0].name]))
    return tuple(found)


def tar_commit(path: Path) -> str | None:
    """The commit a `git archive` tarball names in its pax global header (any compression tarfile reads)."""
    try:
        with tarfile.open(path, mode="r|*") as archive:
            archive.next()
            comment = archive.pax_headers.get("comment", "")
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return None
    return comment if COMMIT.fullmatch(comment) else None


def verify(tarballs: tuple[Tarball, ...]) -> None:
    """Before building: each file has its listed checksum and is a `git archive` of the recipe's commit."""
    for tarball in tarballs:
        try:
            actual = sha256_file(tarball.path)
        except OSError as exc:
            raise LabctlError(f"{tarball.path}: cannot read it ({exc.strerror})") from None
        if actual != tarball.sha256:
            raise LabctlError(
                f"{tarball.path}: sha256 {actual[:16]}... differs from {tarball.sha256[:16]}... in {SUMS_FILE}"
            )
        commit = tar_commit(tarball.path)
        if commit is None:
            raise LabctlError(f"{tarball.path}: not a `git archive` tarball (no commit id in its header)")
        if commit != tarball.upstream.commit:
            raise LabctlError(
                f"{tarball.path}: is commit {commit[:12]} of {tarball.upstream.name}, "
                f"the recipe names {tarball.upstream.commit[:12]}"
            )


def source_folder(env: Mapping[str, str]) -> Path | None:
    """LABCTL_FREESWITCH_SRC, else the default folder when it exists, else None (no source build)."""
    named = env.get(SRC_VAR, "").strip()
    if named:
        return Path(named).expanduser().resolve()
    folder = default_folder()
    return folder if folder.is_dir() else None


def parse_build(spec: Any) -> SourceBuild | str:
    """The `build:` section, or what is wrong with it (one line, for the recipe's error)."""
    keys = ("sources", "modules", "build_packages", "runtime_packages")
    if not isinstance(spec, dict) or set(spec) != set(keys):
        return f"'freeswitch: build:' is a mapping with exactly {', '.join(keys)}"
    sources = spec["sources"]
    if not isinstance(sources, dict) or list(sources) != list(BUILD_ORDER):
        return f"'build: sources:' names {', '.join(BUILD_ORDER)}, in that order (the build order)"
    upstreams = []
    for name, entry in sources.items():
        if not isinstance(entry, dict) or set(entry) != {"git", "commit"} or not isinstance(entry["git"], str):
            return f"'build: sources: {name}:' is {{git: URL, commit: 40 hex digits}}"
        if not isinstance(entry["commit"], str) or not COMMIT.fullmatch(entry["commit"]):
            return f"'build: sources: {name}: commit:' must be a full commit id (40 lowercase hex digits)"
        upstreams.append(Upstream(name, entry["git"], entry["commit"]))
    lists = {}
    for key in keys[1:]:
        value = spec[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and re.fullmatch(r"[\w./+-]+", v) for v in value):
            return f"'build: {key}:' must be a list of names"
        lists[key] = tuple(value)
    return SourceBuild(tuple(upstreams), lists["modules"], lists["build_packages"], lists["runtime_packages"])


def fingerprint(tarballs: tuple[Tarball, ...]) -> list[dict[str, str]]:
    """The sources as the image manifest and the cache key record them."""
    return [
        {"name": t.upstream.name, "git": t.upstream.git, "commit": t.upstream.commit, "sha256": t.sha256}
        for t in tarballs
    ]


def build_digest(spec: SourceBuild, tarballs: tuple[Tarball, ...], root_source: dict[str, Any], script: str) -> str:
    """The cache key of a compiled FreeSWITCH: sources, modules, packages, the build script, the Debian source."""
    payload = {
        "format": BUILD_FORMAT,
        "sources": fingerprint(tarballs),
        "modules": list(spec.modules),
        "build_packages": list(spec.build_packages),
        "runtime_packages": list(spec.runtime_packages),
        "script": script,
        "debian": root_source,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
