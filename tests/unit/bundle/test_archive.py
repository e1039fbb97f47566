"""The bundle file format: a round trip, and a corpus of bad bundles built by hand, each refused
in one line without a trace outside the folder it was to be extracted into."""

from __future__ import annotations

import datetime
import gzip
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

import labctl
from labctl.bundle import BUNDLE_FORMAT, extract_bundle, read_index, verify_bundle, write_bundle, written_by
from labctl.bundle.layout import Member as M
from labctl.bundle.layout import manifest_bytes, sha256_of
from labctl.errors import BundleError

PAYLOAD = {"topology.yaml": b"name: demo\n", "recipes/r1/run.sh": b"#!/bin/sh\necho hi\n", "big.bin": b""}
Entry = tuple[tarfile.TarInfo, bytes]


# ---- building bundles by hand ----------------------------------------------------------------


def entry(name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, link: str = "") -> Entry:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    info.mode = 0o644
    return info, data


def meta(payload: dict[str, bytes], extra: dict[str, object] | None = None) -> list[Entry]:
    """bundle.json and the manifest that list `payload`, as the writer would make them."""
    contents = [M(name, sha256_of(data), len(data)) for name, data in sorted(payload.items())]
    data = {"format": 1, "lab": "demo", **(extra or {}), "contents": [m.as_json() for m in contents]}
    index = json.dumps(data).encode()
    return [entry("bundle.json", index), entry("manifest-sha256.txt", manifest_bytes(sha256_of(index), contents))]


def files(payload: dict[str, bytes]) -> list[Entry]:
    return [entry(name, data) for name, data in sorted(payload.items())]


def tar_bytes(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return out.getvalue()


def zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data)


def pack(path: Path, entries: list[Entry]) -> Path:
    path.write_bytes(zstd(tar_bytes(entries)))
    return path


def good(path: Path, payload: dict[str, bytes] = PAYLOAD) -> Path:
    return pack(path, meta(payload) + files(payload))


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


# ---- the corpus -------------------------------------------------------------------------------

SEEDED = random.Random(11).randbytes(200_000)  # incompressible: a flip in the stream hits content
OUTSIDE = "would land outside the lab's folder"


def truncated(cut: int) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        whole = good(path, {"data.bin": SEEDED}).read_bytes()
        path.write_bytes(whole[: cut if cut >= 0 else len(whole) + cut])
        return path

    return make


def stream_flip(path: Path) -> Path:
    whole = good(path, {"data.bin": SEEDED}).read_bytes()
    path.write_bytes(flipped(whole, len(whole) // 2))
    return path


def content_flip(path: Path) -> Path:
    """The member's bytes changed after bundle.json was made: only its sha256 can tell."""
    changed = {"data.bin": flipped(SEEDED, 1000)}
    return pack(path, meta({"data.bin": SEEDED}) + files(changed))


def hostile(name: str, payload: dict[str, bytes] | None = None, **kind: object) -> Callable[[Path], Path]:
    """A good bundle, plus one member named `name` (of the given tar type), listed or not."""

    def make(path: Path) -> Path:
        extra = entry(name, b"owned\n", **kind)  # type: ignore[arg-type]
        return pack(path, meta(payload or PAYLOAD) + files(PAYLOAD) + [extra])

    return make


def listed_hostile(name: str) -> Callable[[Path], Path]:
    """The traversal member is even listed in bundle.json (so only the path checks stop it)."""
    body = {**PAYLOAD, name: b"owned\n"}

    def make(path: Path) -> Path:
        contents = [M(n, sha256_of(d), len(d)) for n, d in sorted(body.items())]
        data = json.dumps({"format": 1, "contents": [m.as_json() for m in contents]}).encode()
        manifest = manifest_bytes(sha256_of(data), contents)
        return pack(path, [entry("bundle.json", data), entry("manifest-sha256.txt", manifest), *files(body)])

    return make


def with_index(index: bytes) -> Callable[[Path], Path]:
    return lambda path: pack(path, [entry("bundle.json", index), *meta(PAYLOAD)[1:], *files(PAYLOAD)])


def with_format(value: object) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        entries = meta(PAYLOAD, {"format": value})
        return pack(path, entries + files(PAYLOAD))

    return make


def reordered(path: Path) -> Path:
    first, second = meta(PAYLOAD)
    return pack(path, [second, first, *files(PAYLOAD)])


def unlisted(path: Path) -> Path:
    return pack(path, meta(PAYLOAD) + files({**PAYLOAD, "extra.txt": b"x"}))


def missing(path: Path) -> Path:
    return pack(path, meta(PAYLOAD) + files({k: v for k, v in PAYLOAD.items() if k != "topology.yaml"}))


def duplicate(path: Path) -> Path:
    return pack(path, meta(PAYLOAD) + files(PAYLOAD) + files({"topology.yaml": PAYLOAD["topology.yaml"]}))


def wrong_size(path: Path) -> Path:
    return pack(path, meta(PAYLOAD) + files({**PAYLOAD, "topology.yaml": b"name: demo, longer\n"}))


def bad_manifest(path: Path) -> Path:
    index, manifest = meta(PAYLOAD)
    text = manifest[1].replace(sha256_of(PAYLOAD["topology.yaml"]).encode(), b"0" * 64)
    return pack(path, [index, entry("manifest-sha256.txt", text), *files(PAYLOAD)])


def no_manifest(path: Path) -> Path:
    return pack(path, meta(PAYLOAD)[:1] + files(PAYLOAD))


def trailing(path: Path) -> Path:
    good(path)
    with path.open("ab") as out:
        out.write(b"more")
    return path


def a_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("bundle.json", "{}")
    return path


def a_gzip_tar(path: Path) -> Path:
    path.write_bytes(gzip.compress(tar_bytes(meta(PAYLOAD) + files(PAYLOAD))))
    return path


def a_plain_tar(path: Path) -> Path:
    path.write_bytes(tar_bytes(meta(PAYLOAD) + files(PAYLOAD)))
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(random.Random(1).randbytes(4096))
    return path


def zstd_not_tar(path: Path) -> Path:
    path.write_bytes(zstd(b"hello, not a tar at all" * 100))
    return path


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def pax_bomb(path: Path) -> Path:
    """A header tarfile would read whole into memory: refused once it outgrows any real header."""
    info, data = entry("extra.txt", b"x")
    info.pax_headers = {"comment": "x" * (24 << 20)}
    return pack(path, meta(PAYLOAD) + files(PAYLOAD) + [(info, data)])


def folder(path: Path) -> Path:
    path.mkdir()
    return path


# Each bad bundle, the phrase its one line must hold, and (for traversal) where it aimed, relative
# to tmp_path: no file may appear there.
CORPUS: list[tuple[str, Callable[[Path], Path], str, str | None]] = [
    *[
        (f"truncated at {cut}", truncated(cut), "the file is cut short", None)
        for cut in (5, 40, 512, 60_000, -30, -4, -1)
    ],
    ("flipped byte in the stream", stream_flip, r"is damaged|fails its checksum", None),
    ("flipped byte in a member", content_flip, "member 'data.bin' fails its checksum", None),
    ("parent traversal", hostile("../x"), f"member '../x' {OUTSIDE}", "labs/x"),
    ("deep traversal", hostile("a/../../x"), f"member 'a/../../x' {OUTSIDE}", "labs/x"),
    ("listed traversal", listed_hostile("../x"), f"{OUTSIDE}", "labs/x"),
    ("absolute path", hostile("/tmp/labctl-bundle-test-abs"), OUTSIDE, None),
    ("symbolic link", hostile("link", kind=tarfile.SYMTYPE, link="../x"), "member 'link' is a symbolic link", None),
    ("hard link", hostile("hard", kind=tarfile.LNKTYPE, link="topology.yaml"), "'hard' is a hard link", None),
    ("character device", hostile("null", kind=tarfile.CHRTYPE), "'null' is a character device", None),
    ("block device", hostile("sda", kind=tarfile.BLKTYPE), "'sda' is a block device", None),
    ("fifo", hostile("pipe", kind=tarfile.FIFOTYPE), "'pipe' is a FIFO", None),
    ("folder member", hostile("dir", kind=tarfile.DIRTYPE), "'dir' is a folder", None),
    ("control characters", hostile("evil\x1b[31m\nname"), "'evil\\x1b[31m\\nname' has a control character", None),
    ("duplicate member", duplicate, "member 'topology.yaml' appears twice", None),
    ("unlisted member", unlisted, "member 'extra.txt' is not listed in bundle.json", None),
    ("missing member", missing, "member 'topology.yaml' is listed in bundle.json but missing", None),
    ("wrong size", wrong_size, "member 'topology.yaml' has 19 bytes; bundle.json says 11", None),
    ("bundle.json not first", reordered, "bundle.json is not its first member", None),
    ("no manifest", no_manifest, "manifest-sha256.txt is not its second member", None),
    ("manifest disagrees", bad_manifest, "manifest-sha256.txt disagrees with bundle.json about 'topology.yaml'", None),
    ("garbage json", with_index(b"{not json"), "bundle.json is not valid JSON (line 1:", None),
    ("json not an object", with_index(b"[1, 2]"), "bundle.json is not a JSON object", None),
    (
        "newer format",
        with_format(BUNDLE_FORMAT + 1),
        f"written by a newer labctl (format {BUNDLE_FORMAT + 1}; this labctl reads up to {BUNDLE_FORMAT})",
        None,
    ),
    ("format x", with_format("x"), "bundle.json has no valid format version ('x')", None),
    ("no contents", with_index(b'{"format": 1}'), "bundle.json has no 'contents' list", None),
    ("huge pax header", pax_bomb, "is damaged (a tar header is larger than a bundle ever needs)", None),
    ("trailing bytes", trailing, "is damaged (there are bytes after the end of the zstd stream)", None),
    ("zip", a_zip, "is not a labctl bundle (a zip archive)", None),
    ("gzip tar", a_gzip_tar, "is not a labctl bundle (gzip data)", None),
    ("plain tar", a_plain_tar, "is not a labctl bundle (a plain tar archive)", None),
    ("random bytes", random_bytes, "is not a labctl bundle (not a zstd-compressed tar)", None),
    ("zstd but not a tar", zstd_not_tar, "is not a labctl bundle (zstd data, but no tar inside)", None),
    ("empty file", empty, "is not a labctl bundle (an empty file)", None),
    ("a folder", folder, "is a folder, not a labctl bundle", None),
]


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under `root` but `skip`: (mtime, size, mode), to prove nothing else changed.
    The mtime of `skip`'s parent is left out: making and removing `skip` is what changes it."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = os.lstat(path)
            mtime = 0 if path == skip.parent else st.st_mtime_ns
            found[str(path.relative_to(root))] = (mtime, st.st_size, st.st_mode)
    return found


def refusal(call: Callable[[], object]) -> str:
    with pytest.raises(BundleError) as caught:
        call()
    text = str(caught.value)
    assert "\n" not in text and caught.value.lines() == [text]
    return text


@pytest.mark.parametrize(("make", "phrase", "aimed"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_a_bad_bundle_is_refused_in_one_line_and_leaves_no_trace(
    tmp_path: Path, make: Callable[[Path], Path], phrase: str, aimed: str | None
) -> None:
    import re

    bundle = make(tmp_path / "bad.labctl")
    (tmp_path / "labs").mkdir()
    dest = tmp_path / "labs" / "new"
    before = snapshot(tmp_path, dest)

    verified = refusal(lambda: verify_bundle(bundle))
    extracted = refusal(lambda: extract_bundle(bundle, dest))

    assert re.search(phrase if "|" in phrase else re.escape(phrase), extracted), extracted
    assert extracted.startswith(f"{bundle}: "), extracted
    assert verified == extracted
    assert not dest.exists()
    assert snapshot(tmp_path, dest) == before
    if aimed:
        assert not (tmp_path / aimed).exists()
    assert not Path("/tmp/labctl-bundle-test-abs").exists()


def test_a_bad_index_is_refused_by_read_index_too(tmp_path: Path) -> None:
    assert f"format {BUNDLE_FORMAT + 1}" in refusal(
        lambda: read_index(with_format(BUNDLE_FORMAT + 1)(tmp_path / "b.labctl"))
    )
    assert "(a zip archive)" in refusal(lambda: read_index(a_zip(tmp_path / "z.labctl")))
    assert "file not found" in refusal(lambda: read_index(tmp_path / "nothing.labctl"))


def test_a_bundle_bigger_than_the_free_space_is_refused_before_writing(tmp_path: Path) -> None:
    bundle = good(tmp_path / "big.labctl", {"zeros.bin": bytes(3 << 20)})
    (tmp_path / "labs").mkdir()
    dest = tmp_path / "labs" / "new"
    before = snapshot(tmp_path, dest)
    asked: list[Path] = []

    def free(path: Path) -> int:
        asked.append(path)
        return 1 << 20

    text = refusal(lambda: extract_bundle(bundle, dest, free_bytes=free))
    assert text == f"{bundle}: needs 4 MiB and {tmp_path / 'labs'} has 1 MiB free"
    assert asked == [tmp_path / "labs"]
    assert not dest.exists() and snapshot(tmp_path, dest) == before
    extract_bundle(bundle, dest, free_bytes=lambda _: 4 << 20)
    assert (dest / "zeros.bin").stat().st_size == 3 << 20


def test_a_failed_extraction_into_an_empty_folder_leaves_it_empty(tmp_path: Path) -> None:
    dest = tmp_path / "new"
    dest.mkdir()
    refusal(lambda: extract_bundle(missing(tmp_path / "m.labctl"), dest))
    assert dest.is_dir() and list(dest.iterdir()) == []
    extract_bundle(good(tmp_path / "g.labctl"), dest)
    assert (dest / "topology.yaml").read_bytes() == PAYLOAD["topology.yaml"]


def test_extraction_refuses_a_folder_that_is_not_empty_and_touches_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "new"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    text = refusal(lambda: extract_bundle(good(tmp_path / "g.labctl"), dest))
    assert text.endswith(f"{dest} is not empty")
    assert [p.name for p in dest.iterdir()] == ["keep"]
    assert "does not exist" in refusal(lambda: extract_bundle(tmp_path / "g.labctl", tmp_path / "no" / "new"))
    assert not (tmp_path / "no").exists()


# ---- writing ------------------------------------------------------------------------------------


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "src"
    (folder / "recipes").mkdir(parents=True)
    made = {}
    for name, data in {
        "topology.yaml": b"name: demo\n",
        "recipes/run.sh": b"#!/bin/sh\n",
        "image.qcow2": SEEDED,
    }.items():
        path = folder / name.replace("/", "_")
        path.write_bytes(data)
        made[name] = path
    made["recipes/run.sh"].chmod(0o700)
    made["topology.yaml"].chmod(0o600)
    return made


def test_a_round_trip_keeps_bytes_and_modes_and_normalizes_the_rest(tmp_path: Path, sources: dict[str, Path]) -> None:
    out = tmp_path / "demo.labctl"
    written = write_bundle(out, {"lab": "demo", "labctl": "0.1.0"}, sources)

    index = read_index(out)
    assert index == written and index.format == BUNDLE_FORMAT == 2
    assert index.data["lab"] == "demo" and next(iter(index.data)) == "format"
    assert [m.path for m in index.contents] == ["image.qcow2", "recipes/run.sh", "topology.yaml"]
    assert index.member("image.qcow2") == M("image.qcow2", sha256_of(SEEDED), len(SEEDED))
    assert verify_bundle(out) == index

    dest = tmp_path / "labs" / "replayed"
    dest.parent.mkdir()
    assert extract_bundle(out, dest) == index
    for name, source in sources.items():
        assert (dest / name).read_bytes() == source.read_bytes()
    assert (dest / "recipes/run.sh").stat().st_mode & 0o777 == 0o755
    assert (dest / "topology.yaml").stat().st_mode & 0o777 == 0o644
    assert json.loads((dest / "bundle.json").read_bytes()) == dict(index.data)
    checked = subprocess.run(["sha256sum", "-c", "manifest-sha256.txt"], cwd=dest, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == 4

    with tarfile.open(
        fileobj=io.BytesIO(zstandard.ZstdDecompressor().decompressobj().decompress(out.read_bytes()))
    ) as t:
        members = t.getmembers()
    assert [m.name for m in members] == ["bundle.json", "manifest-sha256.txt", *[m.path for m in index.contents]]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime, m.type) for m in members} == {(0, 0, "", "", 0, tarfile.REGTYPE)}
    assert [oct(m.mode) for m in members] == ["0o644", "0o644", "0o644", "0o755", "0o644"]


@pytest.mark.skipif(not shutil.which("zstd"), reason="needs the zstd command")
def test_standard_tools_read_a_bundle_without_labctl(tmp_path: Path, sources: dict[str, Path]) -> None:
    """Years later, `tar` and `sha256sum` still open a bundle, whatever became of labctl."""
    out = tmp_path / "demo.labctl"
    write_bundle(out, {"lab": "demo"}, sources)
    (tmp_path / "plain").mkdir()
    subprocess.run(["tar", "-I", "zstd", "-xf", str(out), "-C", str(tmp_path / "plain")], check=True)
    checked = subprocess.run(["sha256sum", "-c", "manifest-sha256.txt"], cwd=tmp_path / "plain", capture_output=True)
    assert checked.returncode == 0 and checked.stdout.count(b": OK") == 4


def test_written_by_names_this_labctl_and_the_utc_second() -> None:
    when = datetime.datetime(2026, 11, 28, 16, 5, 9, 123, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert written_by(when) == {"labctl": labctl.__version__, "written": "2026-11-28T15:05:09Z"}
    assert written_by()["written"].endswith("Z")


def test_an_empty_payload_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "empty.labctl"
    write_bundle(out, {}, {})
    assert extract_bundle(out, tmp_path / "x").contents == ()


def test_progress_counts_both_passes_and_ends_at_the_total(tmp_path: Path, sources: dict[str, Path]) -> None:
    seen: list[tuple[int, int]] = []
    write_bundle(tmp_path / "p.labctl", {}, sources, progress=lambda done, total: seen.append((done, total)))
    total = 2 * sum(p.stat().st_size for p in sources.values())
    assert seen[-1] == (total, total) and {t for _, t in seen} == {total}
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    seen.clear()
    extract_bundle(tmp_path / "p.labctl", tmp_path / "x", progress=lambda done, total: seen.append((done, total)))
    assert len(seen) > 1 and seen[-1][0] == seen[-1][1] > total // 2


def test_writing_is_atomic_when_a_file_vanishes_midway(tmp_path: Path, sources: dict[str, Path]) -> None:
    out = tmp_path / "demo.labctl"
    before = sorted(p.name for p in tmp_path.iterdir())
    total = 2 * sum(p.stat().st_size for p in sources.values())

    def vanish(done: int, _total: int) -> None:
        if done >= total // 2 and sources["topology.yaml"].exists():
            sources["topology.yaml"].unlink()

    text = refusal(lambda: write_bundle(out, {}, sources, progress=vanish))
    assert text.startswith(f"{out}: cannot read {sources['topology.yaml']}")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_writing_is_atomic_when_a_file_changes_or_on_ctrl_c(tmp_path: Path, sources: dict[str, Path]) -> None:
    out = tmp_path / "demo.labctl"
    before = sorted(p.name for p in tmp_path.iterdir())
    total = 2 * sum(p.stat().st_size for p in sources.values())

    def change(done: int, _total: int) -> None:
        if done >= total // 2:
            sources["topology.yaml"].write_bytes(b"name: other\n")

    assert "changed while the bundle was written" in refusal(lambda: write_bundle(out, {}, sources, progress=change))
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    def interrupt(done: int, _total: int) -> None:
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_bundle(out, {}, sources, progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_force_is_needed_to_replace_a_bundle(tmp_path: Path, sources: dict[str, Path]) -> None:
    out = tmp_path / "demo.labctl"
    out.write_bytes(b"old")
    assert refusal(lambda: write_bundle(out, {}, sources)) == f"{out}: already exists; refused to overwrite it"
    assert out.read_bytes() == b"old"
    write_bundle(out, {"lab": "new"}, sources, force=True)
    assert read_index(out).data["lab"] == "new"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    assert "is a folder" in refusal(lambda: write_bundle(tmp_path / "src", {}, sources, force=True))
    assert "does not exist" in refusal(lambda: write_bundle(tmp_path / "no" / "x.labctl", {}, sources))


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("../x", OUTSIDE),
        ("/etc/x", OUTSIDE),
        ("a/../../x", OUTSIDE),
        ("a//b", "not a plain relative path"),
        ("./a", "not a plain relative path"),
        ("", "has an empty name"),
        ("a\nb", "control character"),
        ("a\\b", "backslash"),
        ("bundle.json", "uses a name the bundle itself needs"),
        ("manifest-sha256.txt", "uses a name the bundle itself needs"),
        ("topology.yaml/inside", "is inside 'topology.yaml', which is a file"),
    ],
)
def test_the_writer_refuses_member_paths_a_reader_would(
    tmp_path: Path, sources: dict[str, Path], name: str, phrase: str
) -> None:
    with pytest.raises(ValueError, match=phrase.replace(".", r"\.")):
        write_bundle(tmp_path / "x.labctl", {}, {**sources, name: sources["topology.yaml"]})
    assert not (tmp_path / "x.labctl").exists()


def test_the_writer_refuses_its_own_keys_and_values_json_cannot_hold(tmp_path: Path, sources: dict[str, Path]) -> None:
    indexes: list[dict[str, object]] = [{"format": 2}, {"contents": []}, {"when": object()}, {"nan": float("nan")}]
    for index in indexes:
        with pytest.raises(ValueError, match="bundle index"):
            write_bundle(tmp_path / "x.labctl", index, sources)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_a_missing_source_is_one_line_naming_it(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    text = refusal(lambda: write_bundle(tmp_path / "x.labctl", {}, {"a": gone}))
    assert text == f"{tmp_path / 'x.labctl'}: cannot read {gone} (No such file or directory)"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "not a regular file" in refusal(lambda: write_bundle(tmp_path / "x.labctl", {}, {"a": fifo}))


def test_ctrl_c_during_an_extraction_removes_the_folder(tmp_path: Path) -> None:
    bundle = good(tmp_path / "g.labctl", {"a.bin": SEEDED, "b.bin": SEEDED})

    def interrupt(done: int, total: int) -> None:
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_bundle(bundle, tmp_path / "new", progress=interrupt)
    assert not (tmp_path / "new").exists()


def test_a_refused_bundle_leaves_a_sibling_lab_alone(tmp_path: Path) -> None:
    """The cleanup removes the new lab's folder, never its neighbours, whatever a member aims at."""
    (tmp_path / "labs" / "other").mkdir(parents=True)
    (tmp_path / "labs" / "other" / "state.json").write_text("{}")
    refusal(lambda: extract_bundle(hostile("../other/state.json")(tmp_path / "b.labctl"), tmp_path / "labs" / "new"))
    assert (tmp_path / "labs" / "other" / "state.json").read_text() == "{}"
