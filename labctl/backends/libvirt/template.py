"""Booted templates in the image cache: a guest booted once to "agent ready" and saved, which nodes
are then restored from in about a second instead of a 20 CPU-second cold boot under TCG.

A template is keyed by everything its saved state depends on (the image's bytes, QEMU and libvirt,
the accelerator and CPU, memory, vCPUs, the domain XML labctl writes): any change gives a new key,
so a stale template is never used, only left behind for `labctl image rm` or `host prune`. Its
folder `<cache>/templates/<key16>/` holds `disk.qcow2` (the template's disk, read-only from the
save on: every clone's overlay sits on it), `state.save` (libvirt's save file, 0600: it holds the
template's throwaway SPICE password) and `template.json`, written last. A template whose restore
failed is marked corrupt and built again by the next `up`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.paths import cache_dir

TEMPLATE_FORMAT = 1  # of template.json, and of how a template is made (a change gives new keys)
FOLDER_KEY_CHARS = 16
META = "template.json"
DISK = "disk.qcow2"
STATE = "state.save"


class TemplateError(LabctlError):
    """No template could be built or used; the node boots cold instead."""


def template_key(parts: Mapping[str, Any]) -> str:
    """The key: sha256 of the parts as canonical JSON."""
    text = json.dumps({"format": TEMPLATE_FORMAT, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def templates_root() -> Path:
    return cache_dir() / "templates"


@dataclass(frozen=True)
class Template:
    key: str
    folder: Path

    @property
    def disk(self) -> Path:
        return self.folder / DISK

    @property
    def state(self) -> Path:
        return self.folder / STATE

    @property
    def short(self) -> str:
        return self.key[:12]


def folder_of(key: str) -> Path:
    return templates_root() / key[:FOLDER_KEY_CHARS]


@contextlib.contextmanager
def building(key: str) -> Iterator[None]:
    """One builder per key at a time (other labs starting at once wait, then use its template)."""
    root = templates_root()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # QEMU's own user reads template disks through it
    with open(root / f".{key[:FOLDER_KEY_CHARS]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def builder_gone(short_key: str) -> bool:
    """Whether no process builds the template whose key starts with `short_key` now: every lock
    of such a key can be taken (a builder killed with SIGKILL left its domain running)."""
    root = templates_root()
    if not all(c in "0123456789abcdef" for c in short_key) or not short_key:
        return False
    for path in root.glob(f".{short_key}*.lock"):
        with open(path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
    return True


def load(key: str) -> Template | None:
    """The template of `key` when it is complete and not marked corrupt; None otherwise."""
    folder = folder_of(key)
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != TEMPLATE_FORMAT or meta.get("key") != key:
        return None
    if meta.get("corrupt"):
        return None
    template = Template(key, folder)
    for path, size in ((template.disk, meta.get("disk_size")), (template.state, meta.get("state_size"))):
        try:
            if path.is_symlink() or path.stat().st_size != size:
                return None
        except OSError:
            return None
    return template


def fresh_folder(key: str) -> Path:
    """An empty folder for `key` (what was there, e.g. a corrupt template, is removed first)."""
    folder = folder_of(key)
    remove(folder)
    folder.mkdir(parents=True)
    os.chmod(folder, 0o755)
    return folder


def remove(folder: Path) -> None:
    """rmtree, only for a folder strictly inside the templates root."""
    if not folder.exists() and not folder.is_symlink():
        return
    root = templates_root().resolve()
    if folder.is_symlink() or folder.resolve().parent != root:
        raise LabctlError(f"refusing to remove {folder}: it is not a template folder in {root}")
    shutil.rmtree(folder)


def finish(folder: Path, key: str, parts: Mapping[str, Any], build_seconds: float) -> Template:
    """Freeze the disk (0444: clones read it), record sizes, write template.json last."""
    template = Template(key, folder)
    os.chmod(template.disk, 0o444)
    os.chmod(template.state, 0o600)
    meta = {
        "format": TEMPLATE_FORMAT,
        "key": key,
        "parts": dict(parts),
        "disk_size": template.disk.stat().st_size,
        "state_size": template.state.stat().st_size,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(build_seconds, 1),
    }
    tmp = folder / f".{META}.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, folder / META)
    return template


def mark_corrupt(template: Template, why: str) -> None:
    """The next `up` builds this key again (and this one is not used meanwhile)."""
    path = template.folder / META
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads(path.read_text())
        meta["corrupt"] = why
        tmp = template.folder / f".{META}.tmp"
        tmp.write_text(json.dumps(meta, indent=2))
        os.replace(tmp, path)


def list_templates() -> list[dict[str, Any]]:
    """Every template folder's record (for `host info` and the bench), damaged ones included."""
    found: list[dict[str, Any]] = []
    root = templates_root()
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not folder.is_dir() or folder.is_symlink():
            continue
        try:
            meta = json.loads((folder / META).read_text())
        except (OSError, ValueError):
            meta = {"damaged": True}
        found.append({"folder": str(folder), **(meta if isinstance(meta, dict) else {"damaged": True})})
    return found


def remove_orphans(image_digests: set[str]) -> list[Path]:
    """Remove the templates of images no longer cached (by the image digest in their key parts);
    what was removed. A folder without its record (being built) is left alone."""
    removed = []
    for record in list_templates():
        digest = ((record.get("parts") or {}).get("image") or {}).get("digest")
        if not record.get("damaged") and digest not in image_digests:
            folder = Path(record["folder"])
            remove(folder)
            removed.append(folder)
    return removed
