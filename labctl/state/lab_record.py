"""What a lab keeps so that it can be saved as a bundle (issue 11): the sources it was brought up
from, exactly as used (its topology, its demo and the whole vm-recipes tree, copied into
`<lab>/source/` in the layout of a project folder), and the report of the last demo run on it
(`<lab>/reports/last.json`). Both are read back by `labctl save`; both are private like the rest
of the lab's folder."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from labctl.errors import LabctlError
from labctl.state.formats import Migration, migrate
from labctl.state.lab_state import LabState, damaged, lab_folder, make_lab_folder, write_private

SOURCE_DIR = "source"
REPORTS_DIR = "reports"
REPORT_FILE = PurePosixPath(REPORTS_DIR) / "last.json"
REPORT_FORMAT = 2  # 2: each result lists its evidence files (and the ones it could not keep)
EVIDENCE_DIR = "evidence"
"""Beside the report; a result's evidence paths are relative to the report's folder (evidence/<file>)."""
NEW_EVIDENCE_DIR = ".evidence.new"
EVIDENCE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
SKIPPED_NAMES = ("__pycache__",)


def sources(lab: str) -> Path:
    """The lab's copy of what it was brought up from: topologies/, demos/ and vm-recipes/."""
    return lab_folder(lab) / SOURCE_DIR


def _copy_private(source: Path, dest: Path) -> None:
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(source, dest, follow_symlinks=True)
    os.chmod(dest, 0o700 if os.access(source, os.X_OK) else 0o600)


def _tree_files(root: Path) -> list[Path]:
    """Regular files under `root`, without caches and hidden files (editors' leftovers)."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") or part in SKIPPED_NAMES for part in p.relative_to(root).parts)
    )


def source_layout(topology: Path, demo: Path | None, demo_ref: str | None, recipes: Path) -> dict[str, Path]:
    """Where each source file goes in a project-shaped folder: topologies/<topology>, the demo beside
    it when the topology names it by a relative file (validation refuses '..' and absolute paths),
    demos/<name>.yaml when by name, and every file of the vm-recipes tree."""
    layout = {f"topologies/{topology.name}": topology}
    if demo is not None and demo_ref is not None:
        relative = PurePosixPath(demo_ref)
        if relative.suffix in (".yaml", ".yml"):
            layout[str(PurePosixPath("topologies", relative))] = demo
        else:
            layout[f"demos/{demo.name}"] = demo
    for path in _tree_files(recipes):
        layout[f"vm-recipes/{path.relative_to(recipes).as_posix()}"] = path
    return layout


def save_sources(state: LabState, topology: Path, demo: Path | None, demo_ref: str | None, recipes: Path) -> Path:
    """Copy the topology, its demo and `recipes` (vm-recipes) into the lab's folder (source_layout).
    Written to a temporary folder first, so a half copy is never taken for the sources."""
    final = sources(state.lab)
    work = final.with_name(f".{SOURCE_DIR}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    try:
        for relative, path in source_layout(topology, demo, demo_ref, recipes).items():
            _copy_private(path, work / relative)
        shutil.rmtree(final, ignore_errors=True)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def source_files(lab: str) -> dict[str, Path]:
    """Every file of the lab's sources, by its path inside the source folder."""
    root = sources(lab)
    if not root.is_dir():
        raise LabctlError(
            f"lab '{lab}' keeps no copy of its sources (it was brought up by an older labctl); "
            f"`labctl down {lab}` and `labctl up` it again to save it"
        )
    return {path.relative_to(root).as_posix(): path for path in _tree_files(root)}


IMAGES_DIR = "images"


def save_images(state: LabState, manifests: dict[str, Path]) -> None:
    """Keep the manifest of each image the lab's nodes boot from: the lock a bundle records."""
    folder = state.folder / IMAGES_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    for name, manifest in manifests.items():
        write_private(folder / f"{name}.json", manifest.read_text())


def image_manifests(lab: str) -> dict[str, dict[str, Any]]:
    """The manifests of the images the lab runs on, by image name (empty for an older lab)."""
    folder = lab_folder(lab) / IMAGES_DIR
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise damaged(lab, f"the image manifest {path}", exc) from None
        if not isinstance(data, dict):
            raise damaged(lab, f"the image manifest {path}", "not a JSON object")
        found[path.stem] = data
    return found


def _reports(lab: str) -> Path:
    folder = make_lab_folder(lab) / REPORTS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


class NewEvidence:
    """The evidence files of a demo run being made, in a folder of their own until save_report makes
    them the last report's (a run cut short leaves the last report's evidence as it was)."""

    def __init__(self, lab: str) -> None:
        self.folder = _reports(lab) / NEW_EVIDENCE_DIR
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(mode=0o700)

    def keep(self, name: str, data: bytes) -> str:
        """Write one file (0600, never over another) and return its path relative to the report's folder.
        `name` must be a plain file name (labctl.demo.evidence builds them): anything else is a ValueError."""
        if not EVIDENCE_FILE.fullmatch(name):
            raise ValueError(f"not a plain evidence file name: {name!r}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with os.fdopen(os.open(self.folder / name, flags, 0o600), "wb") as out:
            out.write(data)
        return f"{EVIDENCE_DIR}/{name}"

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def save_report(state: LabState, demo: str, report: dict[str, Any], evidence: NewEvidence | None = None) -> None:
    """Keep the report of the demo just run on the lab, with when and which demo, and `evidence` (the
    files its results list) in place of the last report's."""
    folder = _reports(state.lab)
    shutil.rmtree(folder / EVIDENCE_DIR, ignore_errors=True)
    if evidence is not None:
        evidence.folder.rename(folder / EVIDENCE_DIR)
    written = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = {"format": REPORT_FORMAT, "demo": demo, "written": written, "report": report}
    write_private(folder / REPORT_FILE.name, json.dumps(record, indent=2) + "\n")


def _report_1_to_2(record: dict[str, Any]) -> dict[str, Any]:
    """Format 1 kept no evidence: every result gets empty lists."""
    report = record.get("report")
    results = report.get("results") if isinstance(report, dict) else None
    for result in results if isinstance(results, list) else []:
        if isinstance(result, dict):
            result.setdefault("evidence", [])
            result.setdefault("evidence_missing", [])
    return record


REPORT_MIGRATIONS: Mapping[int, Migration] = {1: _report_1_to_2}


def last_report(lab: str) -> dict[str, Any] | None:
    """The last demo report kept for the lab (format checked and brought up to date), or None."""
    path = lab_folder(lab) / REPORT_FILE
    if not path.is_file():
        return None
    try:
        record = migrate(
            f"the last report of lab '{lab}'", json.loads(path.read_text()), REPORT_FORMAT, REPORT_MIGRATIONS
        )
        if not isinstance(record.get("report"), dict):
            raise ValueError("it holds no report")
        return record
    except ValueError as exc:
        raise damaged(lab, f"the last report {path}", exc) from None


def report_evidence(lab: str, record: dict[str, Any]) -> dict[str, Path]:
    """The evidence files the results of `record` (a last_report) list, by their path relative to the
    report's folder; only plain names in the evidence folder that are regular files there (a file
    gone since, or anything else a damaged report names, is left out)."""
    folder = lab_folder(lab) / REPORTS_DIR / EVIDENCE_DIR
    found: dict[str, Path] = {}
    results = record["report"].get("results")
    for result in results if isinstance(results, list) else []:
        listed = result.get("evidence", []) if isinstance(result, dict) else []
        for relative in listed if isinstance(listed, list) else []:
            text = str(relative)
            where, _, name = text.partition("/")
            path = folder / name
            if where == EVIDENCE_DIR and EVIDENCE_FILE.fullmatch(name) and path.is_file() and not path.is_symlink():
                found[text] = path
    return found
