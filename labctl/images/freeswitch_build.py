"""Compile FreeSWITCH once per machine: a throw-away bookworm build root (mmdebstrap, variant buildd),
spandsp, sofia-sip and FreeSWITCH built in it stage by stage, the runtime packed as a tarball into

    <cache>/freeswitch/freeswitch-<digest12>/  freeswitch.tar.zst  manifest.json  logs/<nn>-<stage>.log

keyed by the digest of the inputs (freeswitch_source.build_digest). Image builds reuse it.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.images import Step
from labctl.images.checksum import sha256_file
from labctl.images.freeswitch_source import PACKED, STAGES, SourceBuild, Tarball, fingerprint, verify
from labctl.images.recipe import ImageRecipe
from labctl.paths import cache_dir

MANIFEST_FORMAT = 1
RESULT = "freeswitch.tar.zst"
NAME = "freeswitch"
TAIL_LINES = 20
SOURCE_DATE_EPOCH = 1700000000
# A private mount and pid namespace: /proc and /dev exist in the root only while a stage runs,
# and nothing a stage started outlives it.
IN_ROOT = (
    'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && exec chroot "$1" /usr/bin/env -i'
    ' PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 JOBS="$3"'
    ' /bin/sh -ec "$2"'
)


@dataclass(frozen=True)
class BuildInputs:
    """Everything one compile needs; `digest` names its cache folder."""

    spec: SourceBuild
    tarballs: tuple[Tarball, ...]
    digest: str
    suite: str
    apt_source: str  # mirror or snapshot URL
    components: tuple[str, ...]


@dataclass(frozen=True)
class CompiledFreeswitch:
    folder: Path
    tarball: Path
    manifest: dict[str, Any]


def build_inputs(recipe: ImageRecipe) -> BuildInputs:
    """What compiling the recipe's FreeSWITCH takes: its build section, the verified-later tarballs, its suite."""
    addon, source = recipe.freeswitch_active(), recipe.freeswitch_source
    if addon is None or addon.build is None or source is None or source.kind != "source":
        raise LabctlError(f"image {recipe.name} does not build FreeSWITCH from source")
    return BuildInputs(
        addon.build, source.tarballs, recipe.freeswitch_build_digest(), recipe.suite, recipe.source(), recipe.components
    )


def freeswitch_root() -> Path:
    return cache_dir() / "freeswitch"


def result_folder(digest: str) -> Path:
    return freeswitch_root() / f"{NAME}-{digest[:12]}"


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    freeswitch_root().mkdir(parents=True, exist_ok=True)
    with open(freeswitch_root() / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a finished build; a damaged one is an error that says how to clear it."""
    path = folder / "manifest.json"
    damaged = f"the cached FreeSWITCH build {folder} is damaged ({path.name}); remove the folder to rebuild it"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise LabctlError(damaged) from None
    if not isinstance(data, dict) or not isinstance(data.get("format"), int):
        raise LabctlError(damaged)
    if data["format"] != MANIFEST_FORMAT:
        raise LabctlError(
            f"{path}: format {data['format']}, this labctl reads format {MANIFEST_FORMAT}; remove the folder to rebuild"
        )
    if not isinstance(data.get("digest"), str) or not (folder / str(data.get("result", ""))).is_file():
        raise LabctlError(damaged)
    return data


def manifest(inputs: BuildInputs, stages: list[dict[str, Any]], result: Path) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "name": NAME,
        "digest": inputs.digest,
        "sources": fingerprint(inputs.tarballs),
        "modules": list(inputs.spec.modules),
        "debian": {"suite": inputs.suite, "source": inputs.apt_source},
        "built": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "result": result.name,
        "size_bytes": result.stat().st_size,
        "sha256": sha256_file(result),
        "stages": stages,
    }


def failure(stage: str, code: int, log: Path) -> LabctlError:
    """One error: which stage failed, the last lines of its log, and where the full log is."""
    try:
        lines = log.read_text(errors="replace").splitlines()[-TAIL_LINES:]
    except OSError:
        lines = []
    tail = "\n".join("  " + line for line in lines)
    return LabctlError(f"FreeSWITCH build: {stage} failed (exit {code}); full log: {log}\n{tail}")


def run_stage(title: str, argv: list[str], log: Path, step: Step) -> dict[str, Any]:
    """Run one stage, its output into `log` and its last line to `step`; its wall and CPU seconds."""
    step(f"FreeSWITCH build: {title}")
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    with log.open("w") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if line.strip():
                step(f"FreeSWITCH build: {title}: {line.strip()[:100]}")
        code = proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise failure(title, code, log)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"stage": title, "wall_s": round(time.monotonic() - start, 1), "cpu_s": round(cpu, 1)}


def root_argv(inputs: BuildInputs, root: Path, apt_cache: Path) -> list[str]:
    """mmdebstrap for the build root, sharing the image builds' apt archive cache."""
    return [
        "mmdebstrap",
        "--variant=buildd",
        "--mode=root",
        "--format=directory",
        f"--components={','.join(inputs.components)}",
        f"--include={','.join(inputs.spec.build_packages)}",
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
        f"--setup-hook=sync-in {apt_cache} /var/cache/apt/archives/",
        f"--customize-hook=sync-out /var/cache/apt/archives {apt_cache}",
        '--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb',
        inputs.suite,
        str(root),
        inputs.apt_source,
    ]


def stage_argv(root: Path, command: str) -> list[str]:
    jobs = str(os.cpu_count() or 1)
    namespaces = ["unshare", "--mount", "--pid", "--fork", "--kill-child"]
    return [*namespaces, "sh", "-c", IN_ROOT, "sh", str(root), command, jobs]


def unpack_sources(inputs: BuildInputs, root: Path) -> None:
    for tarball in inputs.tarballs:
        dest = root / "build" / tarball.upstream.name
        dest.mkdir(parents=True)
        subprocess.run(["tar", "-xf", str(tarball.path), "-C", str(dest), "--strip-components=1"], check=True)
    modules = "\n".join(inputs.spec.modules) + "\n"
    (root / "build" / "freeswitch" / "modules.conf").write_text(modules)


def pack(root: Path, result: Path) -> None:
    """The runtime files, owned by root, with fixed timestamps, as tar.zst."""
    members = sorted(str(p.relative_to(root)) for pattern in PACKED for p in root.glob(pattern))
    subprocess.run(
        ["tar", "--zstd", "-cf", str(result), "-C", str(root), "--sort=name", "--owner=0", "--group=0"]
        + ["--numeric-owner", f"--mtime=@{SOURCE_DATE_EPOCH}", "--", *members],
        check=True,
    )


def compile_into(inputs: BuildInputs, work: Path, apt_cache: Path, step: Step) -> dict[str, Any]:
    """Build in `work` (an empty folder); leaves the result, its manifest and the logs there."""
    logs, root = work / "logs", work / "root"
    logs.mkdir()
    apt_cache.mkdir(parents=True, exist_ok=True)
    make_root = root_argv(inputs, root, apt_cache)
    stages = [run_stage("build root (mmdebstrap)", make_root, logs / "00-build-root.log", step)]
    unpack_sources(inputs, root)
    for number, (title, command) in enumerate(STAGES, 1):
        log = logs / f"{number:02d}-{title.lower().replace(' ', '-')}.log"
        stages.append(run_stage(title, stage_argv(root, command), log, step))
    step("FreeSWITCH build: packing the result")
    result = work / RESULT
    pack(root, result)
    data = manifest(inputs, stages, result)
    (work / "manifest.json").write_text(json.dumps(data, indent=2) + "\n")
    return data


def ensure_freeswitch(inputs: BuildInputs, apt_cache: Path, step: Step) -> CompiledFreeswitch:
    """The compiled FreeSWITCH for these inputs: from the cache, or verified and built now."""
    folder = result_folder(inputs.digest)
    with _build_lock():
        if (folder / "manifest.json").exists():
            data = read_manifest(folder)
            return CompiledFreeswitch(folder, folder / data["result"], data)
        step("FreeSWITCH build: verifying the sources")
        verify(inputs.tarballs)
        work = folder.with_name(folder.name + ".partial")
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        try:
            compile_into(inputs, work, apt_cache, step)
        finally:
            shutil.rmtree(work / "root", ignore_errors=True)  # the logs stay, for a failure's message
        if folder.exists():
            shutil.rmtree(folder)
        work.rename(folder)
        data = read_manifest(folder)
        return CompiledFreeswitch(folder, folder / data["result"], data)
