"""labctl.images.freeswitch_build: the compiled FreeSWITCH's cache (lock, .partial, manifest, reuse),
the stage runner's progress and failure report, and the packed result. The compile itself is not
faked where it matters: it is measured by hand (docs/DESIGN.md, "FreeSWITCH from source")."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from labctl.errors import LabctlError
from labctl.images import freeswitch_build as fb
from labctl.images.freeswitch_build import (
    MANIFEST_FORMAT,
    RESULT,
    BuildInputs,
    ensure_freeswitch,
    read_manifest,
    result_folder,
    root_argv,
    run_stage,
)
from labctl.images.freeswitch_source import BUILD_ORDER, SourceBuild, Tarball, Upstream

DIGEST = "d" * 64


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BuildInputs:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = SourceBuild(
        sources=tuple(Upstream(n, f"https://example.org/{n}", str(i) * 40) for i, n in enumerate(BUILD_ORDER)),
        modules=("endpoints/mod_sofia", "xml_int/mod_xml_curl"),
        build_packages=("libssl-dev", "libcurl4-openssl-dev"),
        runtime_packages=("libssl3", "libcurl4"),
    )
    tarballs = tuple(Tarball(u, tmp_path / f"{u.name}.tar.xz", str(i) * 64) for i, u in enumerate(spec.sources))
    return BuildInputs(spec, tarballs, DIGEST, "bookworm", "http://deb.debian.org/debian", ("main",))


def fake_compile(inputs: BuildInputs, work: Path, apt_cache: Path, step: Any) -> dict[str, Any]:
    """What compile_into leaves behind, without compiling: a result, its manifest, a log, a build root."""
    (work / "root" / "usr").mkdir(parents=True)
    (work / "logs").mkdir()
    (work / "logs" / "01-spandsp-configure.log").write_text("ok\n")
    result = work / RESULT
    result.write_bytes(b"packed")
    data = fb.manifest(inputs, [{"stage": "x", "wall_s": 1.0, "cpu_s": 0.5}], result)
    (work / "manifest.json").write_text(json.dumps(data))
    return data


def test_a_build_is_cached_by_digest_with_its_manifest_and_logs(
    inputs: BuildInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[tuple[Tarball, ...]] = []
    monkeypatch.setattr(fb, "verify", checked.append)
    monkeypatch.setattr(fb, "compile_into", fake_compile)
    built = ensure_freeswitch(inputs, Path("/apt"), lambda text: None)
    assert checked == [inputs.tarballs]  # verified before building
    assert built.folder == result_folder(DIGEST) and built.folder.name == "freeswitch-dddddddddddd"
    assert sorted(p.name for p in built.folder.iterdir()) == ["freeswitch.tar.zst", "logs", "manifest.json"]
    assert not built.folder.with_name(built.folder.name + ".partial").exists()
    manifest = built.manifest
    assert manifest["format"] == MANIFEST_FORMAT and manifest["digest"] == DIGEST
    assert [s["commit"] for s in manifest["sources"]] == ["0" * 40, "1" * 40, "2" * 40]
    assert [s["git"] for s in manifest["sources"]] == [f"https://example.org/{n}" for n in BUILD_ORDER]
    assert manifest["size_bytes"] == 6 and manifest["result"] == RESULT and len(manifest["sha256"]) == 64
    assert manifest["modules"] == ["endpoints/mod_sofia", "xml_int/mod_xml_curl"]


def test_a_cached_build_is_reused_without_verifying_or_compiling(
    inputs: BuildInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fb, "compile_into", fake_compile)
    monkeypatch.setattr(fb, "verify", lambda tarballs: None)
    first = ensure_freeswitch(inputs, Path("/apt"), lambda text: None)
    monkeypatch.setattr(fb, "compile_into", lambda *a: pytest.fail("compiled twice"))
    monkeypatch.setattr(fb, "verify", lambda *a: pytest.fail("verified a cached build"))
    assert ensure_freeswitch(inputs, Path("/apt"), lambda text: None) == first


def test_a_failed_build_keeps_its_logs_and_drops_the_build_root(
    inputs: BuildInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(inputs: BuildInputs, work: Path, apt_cache: Path, step: Any) -> dict[str, Any]:
        fake_compile(inputs, work, apt_cache, step)
        raise LabctlError("FreeSWITCH build: FreeSWITCH make failed")

    monkeypatch.setattr(fb, "verify", lambda tarballs: None)
    monkeypatch.setattr(fb, "compile_into", failing)
    with pytest.raises(LabctlError, match="FreeSWITCH make failed"):
        ensure_freeswitch(inputs, Path("/apt"), lambda text: None)
    partial = result_folder(DIGEST).with_name(f"freeswitch-{DIGEST[:12]}.partial")
    assert (partial / "logs" / "01-spandsp-configure.log").exists()
    assert not (partial / "root").exists() and not result_folder(DIGEST).exists()
    monkeypatch.setattr(fb, "compile_into", fake_compile)  # the next attempt starts from a clean folder
    assert ensure_freeswitch(inputs, Path("/apt"), lambda text: None).folder == result_folder(DIGEST)
    assert not partial.exists()


def test_sources_that_fail_verification_are_never_built(inputs: BuildInputs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fb, "compile_into", lambda *a: pytest.fail("built from unverified sources"))
    with pytest.raises(LabctlError, match=r"spandsp\.tar\.xz: cannot read it"):
        ensure_freeswitch(inputs, Path("/apt"), lambda text: None)
    assert not result_folder(DIGEST).exists()


# The manifest


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is damaged"),
        ("[]", "is damaged"),
        (json.dumps({"format": "1", "digest": DIGEST, "result": RESULT}), "is damaged"),
        (json.dumps({"format": MANIFEST_FORMAT, "result": RESULT}), "is damaged"),
        (json.dumps({"format": MANIFEST_FORMAT, "digest": DIGEST, "result": "gone.tar.zst"}), "is damaged"),
        (json.dumps({"format": 99, "digest": DIGEST, "result": RESULT}), "format 99, this labctl reads format 1"),
    ],
)
def test_a_damaged_or_unknown_manifest_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "manifest.json").write_text(content)
    (tmp_path / RESULT).write_bytes(b"x")
    with pytest.raises(LabctlError, match=message) as caught:
        read_manifest(tmp_path)
    assert "remove the folder to rebuild" in str(caught.value) and "\n" not in str(caught.value)


def test_a_damaged_cache_entry_is_reported_not_rebuilt_over(
    inputs: BuildInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = result_folder(DIGEST)
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{")
    monkeypatch.setattr(fb, "compile_into", lambda *a: pytest.fail("must not build"))
    with pytest.raises(LabctlError, match=f"the cached FreeSWITCH build {folder} is damaged"):
        ensure_freeswitch(inputs, Path("/apt"), lambda text: None)


# Stages: progress and the failure report


def test_a_stage_passes_its_output_through_and_is_measured(tmp_path: Path) -> None:
    seen: list[str] = []
    log = tmp_path / "stage.log"
    done = run_stage("spandsp make", ["sh", "-c", "echo compiling a.c; echo; echo linking"], log, seen.append)
    assert seen == ["FreeSWITCH build: spandsp make", "FreeSWITCH build: spandsp make: compiling a.c"] + [
        "FreeSWITCH build: spandsp make: linking"
    ]
    assert done["stage"] == "spandsp make" and done["wall_s"] >= 0 and done["cpu_s"] >= 0
    assert log.read_text().endswith("compiling a.c\n\nlinking\n")


def test_a_failing_stage_reports_the_last_20_lines_and_the_full_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "07-freeswitch-make.log"
    log.parent.mkdir()
    script = "for i in $(seq 1 30); do echo line $i; done; echo 'error: no sofia' >&2; exit 3"
    with pytest.raises(LabctlError) as caught:
        run_stage("FreeSWITCH make", ["sh", "-c", script], log, lambda text: None)
    first, *tail = str(caught.value).splitlines()
    assert first == f"FreeSWITCH build: FreeSWITCH make failed (exit 3); full log: {log}"
    assert tail == [f"  line {i}" for i in range(12, 31)] + ["  error: no sofia"]
    assert "line 1\n" in log.read_text()  # the full log keeps everything


# The build root and the packed result


def test_the_build_root_is_a_buildd_bookworm_with_the_build_packages(inputs: BuildInputs, tmp_path: Path) -> None:
    argv = root_argv(inputs, tmp_path / "root", tmp_path / "apt")
    assert argv[:4] == ["mmdebstrap", "--variant=buildd", "--mode=root", "--format=directory"]
    assert "--include=libssl-dev,libcurl4-openssl-dev" in argv
    assert f"--setup-hook=sync-in {tmp_path / 'apt'} /var/cache/apt/archives/" in argv
    assert argv[-3:] == ["bookworm", str(tmp_path / "root"), "http://deb.debian.org/debian"]


def test_the_result_holds_only_the_runtime_owned_by_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for path in (
        "usr/local/freeswitch/bin/freeswitch",
        "usr/local/freeswitch/mod/mod_sofia.so",
        "usr/local/lib/libspandsp.so.3.0.0",
        "usr/local/lib/libsofia-sip-ua.so.0",
        "usr/local/lib/libunrelated.so",
        "usr/local/bin/sip-options",
    ):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(path)
    fb.pack(root, tmp_path / RESULT)
    plain = subprocess.run(["zstd", "-dc", str(tmp_path / RESULT)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(plain)) as archive:
        members = archive.getmembers()
    files = sorted(m.name for m in members if m.isfile())
    assert files == [
        "usr/local/freeswitch/bin/freeswitch",
        "usr/local/freeswitch/mod/mod_sofia.so",
        "usr/local/lib/libsofia-sip-ua.so.0",
        "usr/local/lib/libspandsp.so.3.0.0",
    ]
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, fb.SOURCE_DATE_EPOCH)}


def test_the_manifest_of_a_real_build_format_1_still_loads(tmp_path: Path) -> None:
    """tests/fixtures/freeswitch-build/v1.json is the manifest of the build measured on 2026-11-28."""
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "freeswitch-build" / "v1.json"
    (tmp_path / "manifest.json").write_text(fixture.read_text())
    (tmp_path / RESULT).write_bytes(b"")
    data = read_manifest(tmp_path)
    assert data["format"] == 1 and data["result"] == RESULT
    assert [s["commit"][:7] for s in data["sources"]] == ["0c7bceb", "7333682", "c2c5964"]
    assert data["stages"][0]["stage"] == "build root (mmdebstrap)" and len(data["stages"]) == 9
