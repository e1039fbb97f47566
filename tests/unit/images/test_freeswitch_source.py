"""labctl.images.freeswitch_source: a source tarball is used only when SHA256SUMS lists it, it has that
checksum, and it is a `git archive` of the commit the recipe names; the cache key of the compile."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labctl.errors import ImageRecipeError, LabctlError
from labctl.images import freeswitch_source as fs
from labctl.images.freeswitch_source import (
    BUILD_ORDER,
    SRC_VAR,
    Upstream,
    build_digest,
    locate,
    script_text,
    tar_commit,
    verify,
)
from labctl.images.recipe import DEBS_VAR, TOKEN_VAR, load_image_recipe

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "PATH": "/usr/bin:/bin",
}


def git_archive(repo: Path, name: str, out: Path) -> str:
    """A one-commit repository archived as upstream's tarballs are: `git archive | xz`; its commit."""
    repo.mkdir(parents=True)
    (repo / "configure.ac").write_text(f"AC_INIT({name})\n")
    for argv in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", name]):
        subprocess.run(["git", "-C", str(repo), *argv], check=True, env=GIT_ENV)
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", f"--prefix={name}/", "HEAD"], check=True, capture_output=True, env=GIT_ENV
    ).stdout
    out.write_bytes(subprocess.run(["xz", "-c"], input=archive, check=True, capture_output=True).stdout)
    return commit


@pytest.fixture
def vendor(tmp_path: Path) -> tuple[Path, tuple[Upstream, ...]]:
    """A folder like ../shared/vendor/freeswitch: three small `git archive` tarballs and SHA256SUMS."""
    folder = tmp_path / "vendor"
    folder.mkdir()
    upstreams = []
    for name in BUILD_ORDER:
        tarball = folder / f"{name}-1.0.tar.xz"
        commit = git_archive(tmp_path / "repos" / name, name, tarball)
        upstreams.append(Upstream(name, f"https://example.org/{name}", commit))
    write_sums(folder)
    return folder, tuple(upstreams)


def write_sums(folder: Path) -> None:
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(folder.glob("*.tar*"))]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def test_real_git_archive_tarballs_pass(vendor: tuple[Path, tuple[Upstream, ...]]) -> None:
    folder, upstreams = vendor
    tarballs = locate(folder, upstreams)
    assert [t.path.name for t in tarballs] == [f"{n}-1.0.tar.xz" for n in BUILD_ORDER]
    verify(tarballs)
    git_says = subprocess.run(
        f"xzcat {tarballs[0].path} | git get-tar-commit-id", shell=True, capture_output=True, text=True, check=True
    )
    assert tar_commit(tarballs[0].path) == git_says.stdout.strip() == upstreams[0].commit


def test_a_tarball_of_another_commit_is_refused_naming_the_file(vendor: tuple[Path, tuple[Upstream, ...]]) -> None:
    folder, upstreams = vendor
    wrong = (upstreams[0], dataclasses.replace(upstreams[1], commit="1" * 40), upstreams[2])
    with pytest.raises(LabctlError) as caught:
        verify(locate(folder, wrong))
    message = str(caught.value)
    assert message.startswith(str(folder / "sofia-sip-1.0.tar.xz") + ": is commit ")
    assert "the recipe names 111111111111" in message and "\n" not in message


def test_a_tarball_whose_checksum_differs_from_sha256sums_is_refused(
    vendor: tuple[Path, tuple[Upstream, ...]],
) -> None:
    folder, upstreams = vendor
    tarball = folder / "spandsp-1.0.tar.xz"
    tarball.write_bytes(tarball.read_bytes() + b"\0")  # still a valid archive of the right commit
    assert tar_commit(tarball) == upstreams[0].commit
    with pytest.raises(LabctlError, match=rf"^{tarball}: sha256 \w+\.\.\. differs from \w+\.\.\. in SHA256SUMS$"):
        verify(locate(folder, upstreams))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "freeswitch-1.0.tar.xz").unlink(), r"need exactly one freeswitch-\*\.tar\* tarball .* none"),
        (lambda f: (f / "SHA256SUMS").unlink(), r"SHA256SUMS: cannot read the checksums"),
        (lambda f: (f / "SHA256SUMS").write_text("not a sum line\n"), r"SHA256SUMS:1: not a sha256sum line"),
        (lambda f: (f / "spandsp-2.0.tar.xz").write_text("x"), r"need exactly one spandsp-\*\.tar\* tarball .* found"),
        (lambda f: (f / "SHA256SUMS").write_text(""), r"spandsp-1.0.tar.xz: not listed in .*SHA256SUMS"),
    ],
)
def test_a_missing_tarball_or_checksum_is_one_line(
    vendor: tuple[Path, tuple[Upstream, ...]], damage: Callable[[Path], Any], message: str
) -> None:
    folder, upstreams = vendor
    damage(folder)
    with pytest.raises(LabctlError, match=message) as caught:
        locate(folder, upstreams)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"\xfd7zXZ\x00broken", b"\0" * 1024])
def test_a_garbage_file_with_a_matching_checksum_is_not_a_git_archive(
    vendor: tuple[Path, tuple[Upstream, ...]], content: bytes
) -> None:
    folder, upstreams = vendor
    (folder / "sofia-sip-1.0.tar.xz").write_bytes(content)
    write_sums(folder)
    with pytest.raises(LabctlError, match=r"sofia-sip-1\.0\.tar\.xz: not a `git archive` tarball"):
        verify(locate(folder, upstreams))


def test_a_missing_folder_says_how_to_provide_one(tmp_path: Path) -> None:
    with pytest.raises(LabctlError, match=rf"{SRC_VAR}=.*: no such folder; set {SRC_VAR}=/dir"):
        locate(tmp_path / "nowhere", ())


# The cache key


def key(**change: Any) -> str:
    spec = fs.SourceBuild(
        sources=tuple(Upstream(n, f"https://example.org/{n}", "a" * 40) for n in BUILD_ORDER),
        modules=("endpoints/mod_sofia",),
        build_packages=("libssl-dev",),
        runtime_packages=("libssl3",),
    )
    tarballs = tuple(fs.Tarball(u, Path(f"/v/{u.name}.tar.xz"), "0" * 64) for u in spec.sources)
    args: dict[str, Any] = {
        "spec": spec,
        "tarballs": tarballs,
        "root_source": {"suite": "bookworm", "source": "http://deb.debian.org/debian", "components": ["main"]},
        "script": script_text(),
    }
    for name, value in change.items():
        args[name] = value(args[name])
    return build_digest(**args)


CHANGES: dict[str, dict[str, Callable[[Any], Any]]] = {
    "commit": {"tarballs": lambda t: (dataclasses.replace(t[0], upstream=Upstream("spandsp", "u", "b" * 40)), *t[1:])},
    "checksum": {"tarballs": lambda t: (*t[:2], dataclasses.replace(t[2], sha256="1" * 64))},
    "modules.conf": {"spec": lambda s: dataclasses.replace(s, modules=(*s.modules, "xml_int/mod_xml_curl"))},
    "build packages": {"spec": lambda s: dataclasses.replace(s, build_packages=("libcurl4-openssl-dev",))},
    "runtime packages": {"spec": lambda s: dataclasses.replace(s, runtime_packages=("libcurl4",))},
    "build script": {"script": lambda text: text.replace("make -j$JOBS", "make -j1")},
    "suite": {"root_source": lambda d: {**d, "suite": "trixie"}},
    "snapshot": {"root_source": lambda d: {**d, "source": "http://snapshot.debian.org/archive/debian/20250101T0Z/"}},
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_cache_key_changes_with_each_input(change: str) -> None:
    assert key(**CHANGES[change]) != key()


def test_the_cache_key_is_stable_and_ignores_where_the_tarballs_are() -> None:
    moved: dict[str, Callable[[Any], Any]] = {
        "tarballs": lambda t: tuple(dataclasses.replace(x, path=Path("/elsewhere") / x.path.name) for x in t)
    }
    assert key() == key() == key(**moved)


def test_the_script_in_the_key_is_every_stage_in_build_order() -> None:
    text = script_text()
    positions = [text.index(f"cd /build/{name}") for name in BUILD_ORDER]
    assert positions == sorted(positions)
    assert all(command in text for _, command in fs.STAGES)


# The recipe's source section and where the tarballs come from


def test_the_shipped_recipe_names_the_three_sources_by_git_url_and_commit(images: Path) -> None:
    recipe = load_image_recipe("lab", {})
    assert recipe.freeswitch is not None and recipe.freeswitch.build is not None
    build = recipe.freeswitch.build
    assert [(u.name, u.git, u.commit) for u in build.sources] == [
        ("spandsp", "https://github.com/freeswitch/spandsp", "0c7bcebef4f057b99832a338aafab7e379ef1395"),
        ("sofia-sip", "https://github.com/freeswitch/sofia-sip", "7333682a297f28130ff46d5ef0f9e2f72adca0e8"),
        ("freeswitch", "https://github.com/signalwire/freeswitch", "c2c59645f6911a76589e5008c4d73349ded44b65"),
    ]
    assert {"endpoints/mod_sofia", "xml_int/mod_xml_curl", "formats/mod_sndfile"} <= set(build.modules)
    assert "libcurl4-openssl-dev" in build.build_packages and "libcurl4" in build.runtime_packages


def test_the_source_folder_selects_the_source_build(images: Path, vendor: tuple[Path, tuple[Upstream, ...]]) -> None:
    folder, _ = vendor
    shipped = load_image_recipe("lab", {})
    assert shipped.freeswitch is not None and shipped.freeswitch.build is not None
    for upstream, name in zip(shipped.freeswitch.build.sources, BUILD_ORDER, strict=True):
        (folder / f"{name}-1.0.tar.xz").rename(folder / f"{name}-{upstream.commit[:7]}.tar.xz")
    write_sums(folder)
    recipe = load_image_recipe("lab", {SRC_VAR: str(folder)})
    assert recipe.freeswitch_source is not None and recipe.freeswitch_source.kind == "source"
    assert [t.path.parent for t in recipe.freeswitch_source.tarballs] == [folder] * 3
    assert recipe.digest() != shipped.digest()
    fingerprint = recipe.freeswitch_source.fingerprint()
    assert [s["commit"] for s in fingerprint["sources"]] == [u.commit for u in shipped.freeswitch.build.sources]


def test_the_default_folder_is_used_when_it_exists(images: Path, vendor: tuple[Path, tuple[Upstream, ...]]) -> None:
    folder, _ = vendor
    default = images.parents[2] / "shared" / "vendor" / "freeswitch"  # ../shared/vendor/freeswitch of LABCTL_HOME
    assert fs.default_folder() == default.resolve()
    assert load_image_recipe("lab", {}).freeswitch_source is None
    default.parent.mkdir(parents=True)
    for name in BUILD_ORDER:
        (folder / f"{name}-1.0.tar.xz").rename(folder / f"{name}-x.tar.xz")
    write_sums(folder)
    folder.rename(default)
    source = load_image_recipe("lab", {}).freeswitch_source
    assert source is not None and source.kind == "source"
    assert load_image_recipe("plain", {}).freeswitch_source is None  # no add-on: no source


@pytest.mark.parametrize("other", [TOKEN_VAR, DEBS_VAR])
def test_a_source_folder_and_another_source_are_refused(images: Path, other: str) -> None:
    with pytest.raises(LabctlError, match=f"set {other} or {SRC_VAR}, not both"):
        load_image_recipe("lab", {SRC_VAR: "/x", other: "/y"})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        ("build: yes", "'freeswitch: build:' is a mapping with exactly sources, modules"),
        (
            "build: {sources: {sofia-sip: {git: g, commit: c}}, modules: [], build_packages: [], runtime_packages: []}",
            "'build: sources:' names spandsp, sofia-sip, freeswitch, in that order",
        ),
        (
            "build: {sources: {spandsp: {git: g, commit: abc}, sofia-sip: {git: g, commit: abc},"
            " freeswitch: {git: g, commit: abc}}, modules: [], build_packages: [], runtime_packages: []}",
            "'build: sources: spandsp: commit:' must be a full commit id",
        ),
    ],
)
def test_a_bad_build_section_is_refused_with_its_line(images: Path, build: str, message: str) -> None:
    text = (images / "lab.yaml").read_text()
    start = text.index("  build:\n")
    (images / "lab.yaml").write_text(text[:start] + f"  {build}\n")
    with pytest.raises(ImageRecipeError, match=r"lab\.yaml:\d+: " + message.replace("(", r"\(")) as caught:
        load_image_recipe("lab", {})
    assert caught.value.problems[0].line == text.splitlines().index("freeswitch:") + 1


def test_a_source_folder_for_a_recipe_that_cannot_build_is_refused(images: Path) -> None:
    text = (images / "lab.yaml").read_text()
    (images / "lab.yaml").write_text(text[: text.index("  build:\n")])
    assert load_image_recipe("lab", {}).freeswitch_source is None
    with pytest.raises(LabctlError, match=f"{SRC_VAR} is set, but this image recipe has no 'freeswitch: build:'"):
        load_image_recipe("lab", {SRC_VAR: "/x"})
    with pytest.raises(LabctlError, match=f"set {TOKEN_VAR} or {DEBS_VAR} or {SRC_VAR}, only one"):
        load_image_recipe("lab", {SRC_VAR: "/x", TOKEN_VAR: "t", DEBS_VAR: "/d"})
