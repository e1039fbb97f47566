"""What a lab keeps so that it can be saved as a bundle (issue 11): the sources it was brought up
from, exactly as used (its topology, its demo and the whole vm-recipes tree, copied into
`<lab>/source/` in the layout of a project folder), and the report of the last demo run on it
(`<lab>/reports/last.json`). Both are read back by `labctl save`; both are private like the rest
of the lab's folder."""

from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from labctl.errors import LabctlError
from labctl.state.formats import migrate
from labctl.state.lab_state import LabState, damaged, lab_folder, make_lab_folder, write_private

SOURCE_DIR = "source"
REPORT_FILE = PurePosixPath("reports") / "last.json"
REPORT_FORMAT = 1
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


def save_report(state: LabState, demo: str, report: dict[str, Any]) -> None:
    """Keep the report of the demo just run on the lab, with when and which demo."""
    path = make_lab_folder(state.lab) / REPORT_FILE
    path.parent.mkdir(mode=0o700, exist_ok=True)
    written = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = {"format": REPORT_FORMAT, "demo": demo, "written": written, "report": report}
    write_private(path, json.dumps(record, indent=2) + "\n")


def last_report(lab: str) -> dict[str, Any] | None:
    """The last demo report kept for the lab (format checked), or None."""
    path = lab_folder(lab) / REPORT_FILE
    if not path.is_file():
        return None
    try:
        record = migrate(f"the last report of lab '{lab}'", json.loads(path.read_text()), REPORT_FORMAT, {})
        if not isinstance(record.get("report"), dict):
            raise ValueError("it holds no report")
        return record
    except ValueError as exc:
        raise damaged(lab, f"the last report {path}", exc) from None
