"""Save a lab as one file, look inside one, and replay it (issue 11).

A bundle holds what it takes to bring the lab back and to judge the replay: the topology and its
demo exactly as used, the whole vm-recipes tree the lab ran on (a replay never depends on the
recipes of whatever labctl is installed later), every node's rendered configuration (with
placeholder secrets: a bundle handed to a colleague carries none of the lab's), a lock per image
(its manifest: suite, snapshot date, mmdebstrap and its arguments, SOURCE_DATE_EPOCH, every
package's version, FreeSWITCH's source commits, the qcow2's sha256), optionally the image itself,
and the last demo report with its verdicts and its evidence (report/last.json, and the pcaps its
results list under report/evidence/). The file format is labctl.bundle's.

A replay verifies every checksum before anything else, gets each image (from the bundle, from the
cache when its lock matches, or rebuilt from the bundled recipe and compared with the lock), brings
the lab up from the bundled sources under its own or a new name, runs the bundled demo, and
compares each check's verdict with the saved one.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from labctl.backends.registry import backend_for
from labctl.bundle import BundleIndex, extract_bundle, read_index, write_bundle, written_by
from labctl.bundle.layout import CHUNK, Progress, bundle_error
from labctl.compile import compile_topology
from labctl.compile.plan import LabPlan
from labctl.demo.model import Report
from labctl.errors import LabctlError
from labctl.images import ImageArtifacts
from labctl.images.cache import IMAGE_FILES, cached, ensure_image, install_image
from labctl.images.recipe import load_image_recipe
from labctl.lab.configure import placeholder_secrets
from labctl.lab.rendered import write_rendered
from labctl.paths import data_dir, data_home, demo_reference
from labctl.render.lab import render_plan
from labctl.service import labs, topologies, verify
from labctl.service.events import QUIET, Listener
from labctl.state import LabState, check_lab_name, check_node_name, lab_exists, load_state, remove_folder
from labctl.state.lab_record import (
    EVIDENCE_DIR,
    image_manifests,
    last_report,
    report_evidence,
    source_files,
    source_layout,
    sources,
)
from labctl.state.lab_state import lab_folder, make_lab_folder, restore_secrets, secrets_file, state_root
from labctl.topology.schema import load_topology

SUFFIX = ".labctl"
SECRETS_MEMBER = "lab/secrets.json"
REPORT_DIR = "report"
"""The last report (last.json) and its evidence (evidence/...), as the lab keeps them in reports/."""


@dataclass(frozen=True)
class Saved:
    path: Path
    lab: str
    members: int
    bytes: int
    with_image: bool
    seconds: float
    with_disks: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.path),
            "lab": self.lab,
            "members": self.members,
            "bytes": self.bytes,
            "with_image": self.with_image,
            "with_disks": self.with_disks,
            "seconds": round(self.seconds, 2),
        }


def byte_progress(listener: Listener, verb: str) -> Progress:
    """(done, total) bytes -> a step line every 5%, for long copies and checksums."""
    shown = [-1]

    def progress(done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent // 5 != shown[0] // 5 or done == total:
            shown[0] = percent
            listener.step(f"{verb} {done >> 20}/{total >> 20} MiB ({percent}%)")

    return progress


def image_lock(manifest: dict[str, Any], disk: Path | None) -> dict[str, Any]:
    """What a replay needs to know of an image: its manifest, the qcow2's size when at hand, and the
    fields an image built by an older labctl did not record, marked as such (null)."""
    lock = dict(manifest)
    for missing in ("snapshot_date", "mmdebstrap", "source_date_epoch"):
        lock.setdefault(missing, None)
    if disk is not None and disk.is_file():
        lock["qcow2_size"] = disk.stat().st_size
    return lock


def verdicts(report: dict[str, Any] | None) -> list[dict[str, str]]:
    if report is None:
        return []
    return [
        {"check": str(r.get("check")), "subject": str(r.get("subject")), "status": str(r.get("status"))}
        for r in report.get("results", [])
        if isinstance(r, dict)
    ]


# -- save ----------------------------------------------------------------------------------------
@contextmanager
def _rendered_files(plan_folder_root: Path, plan: LabPlan) -> Iterator[dict[str, Path]]:
    """Every node's configuration rendered with placeholder secrets, as bundle members."""
    with tempfile.TemporaryDirectory(prefix="labctl-save-") as tmp:
        with data_home(plan_folder_root):
            write_rendered(Path(tmp) / "rendered", render_plan(plan, placeholder_secrets(plan)))
        root = Path(tmp)
        yield {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


@contextmanager
def _disk_members(state: LabState, listener: Listener) -> Iterator[dict[str, Path]]:
    """Each node's disk changes, copied by its backend (node paused, filesystems frozen) into a
    private folder of the lab's, and the lab's secrets, which those disks hold anyway: a replay
    gives them back to the lab it makes, so that configuration applied again matches the disks."""
    backend = backend_for(state)
    with tempfile.TemporaryDirectory(dir=lab_folder(state.lab), prefix=".export-") as tmp:
        members = {SECRETS_MEMBER: secrets_file(state.lab)}
        for node in sorted(state.nodes):
            listener.step(f"{node}: copying its disk")
            backend.export_disk(state, node, Path(tmp) / f"{node}.qcow2")
            members[f"disks/{node}.qcow2"] = Path(tmp) / f"{node}.qcow2"
        yield members


def save(
    target: str,
    out: Path,
    with_image: bool = False,
    force: bool = False,
    listener: Listener = QUIET,
    with_disks: bool = False,
) -> Saved:
    """Write the bundle of a running lab (or of a topology that is not running: its sources as they
    are now, the lock of its image when it is built, and no report). `with_disks` adds each node's
    disk (a running lab's only) and, since a disk is changes over its image's exact bytes, the image."""
    start = datetime.datetime.now(datetime.UTC)
    state = load_state(target) if _is_lab(target) else None
    if with_disks and state is None:
        raise LabctlError(f"--with-disks: '{target}' is not a running lab; only a running lab's disks can be saved")
    with_image = with_image or with_disks
    evidence: dict[str, Path] = {}
    if state is not None:
        files, root = source_files(state.lab), sources(state.lab)
        manifests = image_manifests(state.lab)
        record = last_report(state.lab)
        evidence = report_evidence(state.lab, record) if record else {}
        lab, topology = state.lab, f"topologies/{Path(state.topology).name}"
    else:
        topo = topologies.load(target)
        demo_ref = topo.demo
        demo = labs.load_demo_path(demo_reference(demo_ref, topo.source)) if demo_ref else None
        files = source_layout(topo.source, demo, demo_ref, data_dir("vm-recipes"))
        root = data_dir("vm-recipes").parent
        manifests = {}
        for name in sorted({n.image for n in topo.nodes}):
            built = cached(name, load_image_recipe(name).digest())
            if built is not None:
                manifests[name] = json.loads(built.manifest.read_text())
        record, lab, topology = None, topo.name, f"topologies/{topo.source.name}"
    if topology not in files:
        raise LabctlError(f"lab '{lab}' keeps no copy of its topology ({topology}); it cannot be saved")
    with data_home(root):
        source = load_topology(files[topology])
        plan = compile_topology(source)
    demo_member = _demo_member(source.demo)
    images: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        members = {**files, **stack.enter_context(_rendered_files(root, plan))}
        disks = stack.enter_context(_disk_members(state, listener)) if with_disks and state else {}
        members.update(disks)
        for name, manifest in manifests.items():
            artifacts = cached(name, str(manifest.get("input_digest", "")))
            images[name] = image_lock(manifest, artifacts.disk if artifacts else None)
            if with_image:
                if artifacts is None:
                    raise LabctlError(
                        f"--with-image: image {name} ({str(manifest.get('input_digest', ''))[:12]}) is no longer "
                        "in the image cache; `labctl image build` it again, or save without --with-image"
                    )
                for member in IMAGE_FILES:
                    members[f"images/{name}/{member}"] = artifacts.disk.parent / member
        report_text = json.dumps(record, indent=2) + "\n" if record else None
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="labctl-save-"))
        if report_text is not None:
            (Path(tmp) / "last.json").write_text(report_text)
            members[f"{REPORT_DIR}/last.json"] = Path(tmp) / "last.json"
            members.update({f"{REPORT_DIR}/{relative}": path for relative, path in evidence.items()})
        index = {
            **written_by(),
            "lab": lab,
            "topology": topology,
            "demo": demo_member,
            "images": images,
            "with_image": with_image,
            "disks": sorted(state.nodes) if disks and state else [],
            "secrets": SECRETS_MEMBER if disks else None,
            "report": f"{REPORT_DIR}/last.json" if report_text else None,
            "verdicts": verdicts(record["report"] if record else None),
        }
        with listener.live(f"saving {lab}"):
            written = write_bundle(out, index, members, force=force, progress=byte_progress(listener, "writing"))
    seconds = (datetime.datetime.now(datetime.UTC) - start).total_seconds()
    size = out.stat().st_size
    return Saved(out, lab, len(written.contents), size, with_image, seconds, with_disks)


def _is_lab(target: str) -> bool:
    try:
        return lab_exists(check_lab_name(target))
    except LabctlError:
        return False


def _demo_member(demo: str | None) -> str | None:
    """Where the topology's demo is in a bundle (see source_layout): beside it when named by a file."""
    if demo is None:
        return None
    return f"topologies/{demo}" if demo.endswith((".yaml", ".yml")) else f"demos/{demo}.yaml"


# -- show ----------------------------------------------------------------------------------------
EVIDENCE_PREFIX = f"{REPORT_DIR}/{EVIDENCE_DIR}/"


def show(path: Path) -> dict[str, Any]:
    """What is inside a bundle, its format and image locks and saved verdicts; boots nothing."""
    index = read_index(path)
    raw = index.data
    images = {
        name: {
            "input_digest": lock.get("input_digest"),
            "suite": lock.get("suite"),
            "snapshot": lock.get("snapshot"),
            "snapshot_date": lock.get("snapshot_date"),
            "packages": len(lock.get("packages") or []),
            "freeswitch": _freeswitch_commits(lock),
            "qcow2_sha256": lock.get("qcow2_sha256"),
            "included": index.member(f"images/{name}/disk.qcow2") is not None,
        }
        for name, lock in (raw.get("images") or {}).items()
    }
    return {
        "bundle": str(path),
        "format": index.format,
        "labctl_version": raw.get("labctl"),
        "written": raw.get("written"),
        "lab": raw.get("lab"),
        "topology": raw.get("topology"),
        "demo": raw.get("demo"),
        "images": images,
        "disks": [d for d in disks if isinstance(d, str)] if isinstance(disks := raw.get("disks"), list) else [],
        "secrets": bool(raw.get("secrets")),
        "members": len(index.contents),
        "bytes": index.payload_size,
        "evidence": sum(m.path.startswith(EVIDENCE_PREFIX) for m in index.contents),
        "verdicts": raw.get("verdicts") or [],
    }


def _freeswitch_commits(lock: dict[str, Any]) -> list[str]:
    sources = (lock.get("freeswitch") or {}).get("sources") or []
    return [f"{s.get('name')} {str(s.get('commit'))[:12]}" for s in sources if isinstance(s, dict)]


# -- replay --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    check: str
    subject: str
    saved: str  # pass | fail | skipped | "" (the check was not in the saved report)
    now: str  # the same, "" when the replay did not run it

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "subject": self.subject, "saved": self.saved, "now": self.now}


def compare(saved: list[dict[str, str]], report: Report) -> list[Change]:
    """Each check whose verdict differs from the saved one, or that only one of the two has."""
    before = {(v["check"], v["subject"]): v["status"] for v in saved}
    after = {(r.check, r.subject): r.status for r in report.results}
    return [
        Change(check, subject, before.get((check, subject), ""), after.get((check, subject), ""))
        for check, subject in [*before, *(k for k in after if k not in before)]
        if before.get((check, subject)) != after.get((check, subject))
    ]


@dataclass
class Replayed:
    lab: str
    report: Report
    changes: list[Change]
    saved: list[dict[str, str]]
    image_differences: dict[str, list[str]] = field(default_factory=dict)
    image_sources: dict[str, str] = field(default_factory=dict)  # how each image was got (see _images)
    seconds: float = 0.0

    @property
    def same(self) -> bool:
        return bool(self.saved) and not self.changes

    def to_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "same": self.same,
            "changes": [c.to_dict() for c in self.changes],
            "image_differences": self.image_differences,
            "image_sources": self.image_sources,
            "report": self.report.to_dict(),
            "seconds": round(self.seconds, 1),
        }


def package_differences(lock: dict[str, Any], built: dict[str, Any]) -> list[str]:
    """Every package whose version differs between the lock and a rebuilt image's manifest."""
    old = dict(p.split("=", 1) for p in lock.get("packages") or [] if "=" in p)
    new = dict(p.split("=", 1) for p in built.get("packages") or [] if "=" in p)
    return [
        f"{name}: {old.get(name, 'absent')} -> {new.get(name, 'absent')}"
        for name in sorted({*old, *new})
        if old.get(name) != new.get(name)
    ]


CACHED, BUNDLED, REBUILT, CACHED_DIFFERS = (
    "the cached one, identical to its lock",
    "from the bundle",
    "rebuilt from the bundled recipe",
    "the cached image of the same recipe digest; its qcow2 differs from the lock",
)
"""How a replay got each image (its phase line, and `image_sources` in its JSON)."""
UNLOCKED_BUILT, UNLOCKED_CACHED = (
    "no lock in the bundle: built now from the bundled recipe",
    "no lock in the bundle: the cached image of the bundled recipe's inputs",
)


def unlocked_sources(manifests: dict[str, dict[str, Any]], locked: set[str], since: str) -> dict[str, str]:
    """How `up` got each image the bundle holds no lock of (a bundle saved from a topology whose
    image was not built): built during the replay (`since`, its start, as a manifest's `built`) or not."""
    return {
        name: UNLOCKED_BUILT if str(manifest.get("built", "")) >= since else UNLOCKED_CACHED
        for name, manifest in manifests.items()
        if name not in locked
    }


def _images(
    index: BundleIndex, folder: Path, listener: Listener
) -> tuple[dict[str, ImageArtifacts], dict[str, list[str]], dict[str, str]]:
    """Each image of the bundle: its own copy, or the cache's when its lock matches, or the image of
    the bundled recipe (rebuilt, or the cache's build of the same inputs whose qcow2 is not the
    lock's) compared with the lock, package by package. Also says which of these each image was."""
    found: dict[str, ImageArtifacts] = {}
    differences: dict[str, list[str]] = {}
    how: dict[str, str] = {}
    for name, lock in (index.data.get("images") or {}).items():
        digest = str(lock.get("input_digest", ""))
        disk = index.member(f"images/{name}/disk.qcow2")
        local = cached(name, digest)
        wanted = lock.get("qcow2_sha256")
        if local is not None and json.loads(local.manifest.read_text()).get("qcow2_sha256") != wanted:
            local = None
        if disk is not None and disk.sha256 != wanted:
            raise LabctlError(f"the bundled image {name} is not the one its lock names (its qcow2's sha256 differs)")
        if local is not None:
            how[name], found[name] = CACHED, local
        elif disk is not None:
            files = {f: folder / "images" / name / f for f in IMAGE_FILES}
            how[name], found[name] = BUNDLED, install_image(name, digest, files)
        else:
            listener.phase(f"image {name}: neither in the bundle nor in the cache as its lock names it")
            with data_home(folder):
                artifacts, built_now = ensure_image(name, listener.step)
            how[name], found[name] = (REBUILT if built_now else _cached_build(artifacts.digest, digest)), artifacts
            if artifacts.digest != digest:
                listener.event(
                    "",
                    f"image {name}: the bundled recipe's inputs are {artifacts.digest[:12]}, its lock's {digest[:12]}",
                )
            differences[name] = package_differences(lock, json.loads(artifacts.manifest.read_text()))
        listener.phase(f"image {name}: {how[name]}")
        for line in differences.get(name, []):
            listener.event("", f"image {name} differs from its lock: {line}")
        if name in differences and not differences[name]:
            listener.event("", f"image {name}: every package has the version its lock names")
    return found, differences, how


def _cached_build(built: str, locked: str) -> str:
    if built == locked:
        return CACHED_DIFFERS
    return f"the cached image of the bundled recipe (inputs {built[:12]}, the lock names {locked[:12]})"


def _disks(index: BundleIndex, folder: Path, path: Path) -> dict[str, Path]:
    """The saved disk of each node the bundle names (node names checked like a topology's)."""
    nodes = index.data.get("disks") or []
    if not isinstance(nodes, list):
        raise bundle_error(path, "its list of disks is not a list")
    found = {}
    for node in nodes:
        name = check_node_name(str(node))
        member = f"disks/{name}.qcow2"
        if index.member(member) is None:
            raise bundle_error(path, f"it names a disk of node '{name}' but holds no {member}")
        found[name] = folder / member
    return found


URL_SCHEMES = ("http", "https")


def is_url(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme in URL_SCHEMES


@contextmanager
def downloaded(url: str, listener: Listener = QUIET) -> Iterator[Path]:
    """The bundle at `url`, downloaded (with progress) into a private temporary file of labctl's
    state folder, which is removed afterwards whatever happens."""
    fd, name = tempfile.mkstemp(dir=state_root(), prefix=".download-", suffix=SUFFIX)
    target = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            _download(url, out, target.parent, listener)
        yield target
    finally:
        target.unlink(missing_ok=True)


def _download(url: str, out: BinaryIO, folder: Path, listener: Listener) -> None:
    progress = byte_progress(listener, "downloading")
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:  # the schemes are checked: http(s) only
            total = int(reply.headers.get("Content-Length") or 0)
            free = shutil.disk_usage(folder).free
            if total > free:
                raise LabctlError(f"{url} is {total >> 20} MiB and labctl's state folder has {free >> 20} MiB free")
            done = 0
            with listener.live(f"downloading {url}"):
                while chunk := reply.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    progress(done, max(total, done))
            if total and done != total:
                raise LabctlError(f"cannot download {url}: the server sent {done} of {total} bytes")
    except urllib.error.HTTPError as exc:
        raise LabctlError(f"cannot download {url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise LabctlError(f"cannot download {url}: {reason}") from None


def replay(source: str | Path, name: str | None = None, listener: Listener = QUIET) -> Replayed:
    """`replay_file` of a bundle file, or of one downloaded from an http(s) URL first."""
    if isinstance(source, str) and is_url(source):
        with downloaded(source, listener) as path:
            return replay_file(path, name, listener)
    if isinstance(source, str) and "://" in source:
        raise LabctlError(f"cannot replay {source}: only a file, or an http:// or https:// URL")
    return replay_file(Path(source), name, listener)


def replay_file(path: Path, name: str | None = None, listener: Listener = QUIET) -> Replayed:
    """Verify, get the images, bring the lab up from the bundle, run its demo, compare the verdicts.
    A bad bundle is refused in one line, and nothing outside the new lab's folder is written."""
    start = datetime.datetime.now(datetime.UTC)
    index = read_index(path)
    lab = check_lab_name(name or str(index.data.get("lab", "")))
    if lab_exists(lab):
        raise bundle_error(path, f"lab '{lab}' already exists here; replay it under another name with --name NAME")
    folder = make_lab_folder(lab) / "bundle"
    try:
        with listener.live(f"checking {path.name}"):
            extract_bundle(path, folder, progress=byte_progress(listener, "verifying and unpacking"))
        demo = index.data.get("demo")
        if demo is None:
            raise bundle_error(path, "the bundle has no demo to replay")
        disks = _disks(index, folder, path)  # checked before anything is written outside the lab's folder
        images, differences, sources = _images(index, folder, listener)
        if disks and differences:
            raise bundle_error(
                path,
                f"its disks are changes over the exact bytes of image {', '.join(differences)}, "
                "which neither the bundle nor the image cache has",
            )
        if index.data.get("secrets"):
            restore_secrets(lab, folder / SECRETS_MEMBER)
        topology = folder / str(index.data["topology"])
        with data_home(folder):
            launched = labs.up(str(topology), listener, name=lab, images=images, disks=disks)
            unlocked = unlocked_sources(image_manifests(lab), set(sources), start.strftime("%Y-%m-%dT%H:%M:%SZ"))
            for image, how in unlocked.items():
                listener.phase(f"image {image}: {how}")
            report = verify.verify(launched.state, str(folder / str(demo)))
    except BaseException:
        if load_state(lab) is None:
            remove_folder(lab)
        raise
    saved = list(index.data.get("verdicts") or [])
    seconds = (datetime.datetime.now(datetime.UTC) - start).total_seconds()
    return Replayed(lab, report, compare(saved, report), saved, differences, {**sources, **unlocked}, seconds)
