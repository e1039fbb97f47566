"""A rendered lab on disk: `<folder>/<node>/files/<guest path>` plus `<folder>/<node>/steps.json`,
and `<folder>/lab.json` for the node order and the waves.

`up` and `reconfigure` keep one in the lab's state folder (`rendered/`), `labctl render -o DIR`
writes one anywhere. A node's folder alone is enough to push that node: its manifest lists the
roles in the order they run, each with its wave, files (path, mode, owner), commands, readiness
probe and skip_when, and the file contents sit under `files/` at their guest paths.

Every file is written 0600 and every folder 0700 (the files hold the lab's secrets; the mode a
file gets on the guest is in the manifest). Paths come from templates, so each is checked again
here, and folders are walked one name at a time without following symbolic links: nothing is
written or read outside the folder, even in a folder someone else prepared. Nothing is deleted,
except the lab's own `rendered/`, replaced whole by `save_rendered`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.lab.configure import placeholder_secrets
from labctl.render.guest_path import check_guest_path
from labctl.render.lab import RenderedLab, render_plan
from labctl.render.recipe import ReadyProbe
from labctl.render.render import RenderedFile, RoleStep
from labctl.state import check_format, check_node_name, load_state, read_secrets

RENDERED_FORMAT = 1
RENDERED_DIR = "rendered"  # inside a lab's state folder
LAB_FILE = "lab.json"
STEPS_FILE = "steps.json"
FILES_DIR = "files"


# -- walking folders without following links ------------------------------------------------------
@contextlib.contextmanager
def _folder(root: Path, parts: list[str], create: bool) -> Iterator[int]:
    """A descriptor of root/parts..., each name opened (made 0700 when `create`) without following links."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for name in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o700, dir_fd=fds[-1])
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
        yield fds[-1]
    finally:
        for fd in fds:
            os.close(fd)


def _write(root: Path, relative: str, data: bytes) -> None:
    *parts, name = relative.split("/")
    try:
        with _folder(root, parts, create=True) as fd:
            tmp = f".labctl-{secrets.token_hex(8)}.tmp"
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
            try:
                with os.fdopen(out, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)  # replaces a link itself, never its target
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=fd)
                raise
    except OSError as exc:
        raise LabctlError(f"cannot write {root / relative}: {exc.strerror or exc}") from None


def _read(root: Path, relative: str) -> bytes:
    *parts, name = relative.split("/")
    try:
        with _folder(root, parts, create=False) as fd:
            opened = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)  # a FIFO never blocks
        with os.fdopen(opened, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise LabctlError(f"cannot read {root / relative}: it is not a regular file")
            return handle.read()
    except OSError as exc:
        raise LabctlError(f"cannot read {root / relative}: {exc.strerror or exc}") from None


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()


# -- writing --------------------------------------------------------------------------------------
def node_manifest(rendered: RenderedLab, node: str) -> dict[str, Any]:
    return {
        "format": RENDERED_FORMAT,
        "lab": rendered.lab,
        "node": node,
        "roles": [
            {
                "role": step.role,
                "wave": rendered.wave_of(step.role),
                "files": [{"path": f.path, "mode": f.mode, "owner": f.owner} for f in step.files],
                "commands": list(step.commands),
                "ready": None
                if step.ready is None
                else {"command": step.ready.command, "timeout": step.ready.timeout, "interval": step.ready.interval},
                "skip_when": step.skip_when,
            }
            for step in rendered.nodes[node]
        ],
    }


def write_rendered(folder: Path, rendered: RenderedLab) -> dict[str, int]:
    """Write every node's folder (and lab.json) into `folder`, made 0700 if missing; files already
    there at the same names are replaced, nothing else is touched. Returns node -> files written."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise LabctlError(f"cannot make {folder}: {exc.strerror or exc}") from None
    counts: dict[str, int] = {}
    for node, steps in rendered.nodes.items():
        check_node_name(node)
        written = {f.path: f for step in steps for f in step.files}
        for path, f in written.items():
            _write(folder, f"{node}/{FILES_DIR}{check_guest_path(path)}", f.content.encode())
        _write(folder, f"{node}/{STEPS_FILE}", _json(node_manifest(rendered, node)))
        counts[node] = len(written)
    index = {"format": RENDERED_FORMAT, "lab": rendered.lab, "nodes": list(rendered.nodes)}
    _write(folder, LAB_FILE, _json(index | {"waves": [list(w) for w in rendered.waves]}))
    return counts


def save_rendered(lab_folder: Path, rendered: RenderedLab) -> Path:
    """Replace `<lab folder>/rendered/` whole with `rendered` (written aside first, then swapped)."""
    target = lab_folder / RENDERED_DIR
    fresh = Path(tempfile.mkdtemp(prefix=f".{RENDERED_DIR}.", dir=lab_folder))
    try:
        write_rendered(fresh, rendered)
        old = None
        if target.is_symlink() or target.exists():
            if target.is_symlink() or not target.is_dir():
                raise LabctlError(f"refusing to replace {target}: it is not a folder labctl made")
            old = lab_folder / f".{RENDERED_DIR}.old.{secrets.token_hex(4)}"
            target.rename(old)
        fresh.rename(target)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


# -- reading --------------------------------------------------------------------------------------
class _Damaged(ValueError):
    pass


def _need(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _Damaged(f"{what} is not a {getattr(kind, '__name__', 'value of the right kind')}")
    return value


def _strings(value: Any, what: str) -> tuple[str, ...]:
    return tuple(_need(v, str, what) for v in _need(value, list, what))


def _number(value: Any, what: str) -> float:
    return float(_need(value, (int, float), what))


def _load_json(folder: Path, relative: str) -> dict[str, Any]:
    try:
        data = json.loads(_read(folder, relative))
    except ValueError as exc:
        raise _Damaged(f"{relative} is not JSON ({exc})") from None
    data = _need(data, dict, relative)
    assert isinstance(data, dict)
    check_format(f"rendered lab {folder / relative}", data.get("format"), RENDERED_FORMAT)
    return data


def _step(folder: Path, node: str, raw: Any, waves: list[tuple[str, ...]]) -> RoleStep:
    raw = _need(raw, dict, "a role")
    role = _need(raw.get("role"), str, "role")
    wave = _need(raw.get("wave"), int, f"{role}: wave")
    if not 0 <= wave < len(waves) or role not in waves[wave]:
        raise _Damaged(f"role {role} is not in wave {wave} of {LAB_FILE}")
    files = []
    for entry in _need(raw.get("files"), list, f"{role}: files"):
        entry = _need(entry, dict, f"{role}: a file")
        path = _need(entry.get("path"), str, f"{role}: a file path")
        try:
            check_guest_path(path)
        except ValueError as exc:
            raise _Damaged(str(exc)) from None
        content = _read(folder, f"{node}/{FILES_DIR}{path}").decode()
        mode, owner = _need(entry.get("mode"), str, f"{path}: mode"), _need(entry.get("owner"), str, f"{path}: owner")
        files.append(RenderedFile(path=path, content=content, mode=mode, owner=owner))
    ready = raw.get("ready")
    if ready is not None:
        ready = _need(ready, dict, f"{role}: ready")
        ready = ReadyProbe(
            command=_need(ready.get("command"), str, f"{role}: ready command"),
            timeout=_number(ready.get("timeout"), f"{role}: ready timeout"),
            interval=_number(ready.get("interval"), f"{role}: ready interval"),
        )
    skip_when = raw.get("skip_when")
    return RoleStep(
        role=role,
        files=tuple(files),
        commands=_strings(raw.get("commands"), f"{role}: commands"),
        ready=ready,
        skip_when=None if skip_when is None else _need(skip_when, str, f"{role}: skip_when"),
    )


def read_rendered(folder: Path) -> RenderedLab:
    """The lab written by write_rendered, checked (format, types, paths); LabctlError when it is not."""
    try:
        index = _load_json(folder, LAB_FILE)
        lab = _need(index.get("lab"), str, "lab")
        waves = [_strings(w, "a wave") for w in _need(index.get("waves"), list, "waves")]
        nodes: dict[str, tuple[RoleStep, ...]] = {}
        for node in _strings(index.get("nodes"), "nodes"):
            check_node_name(node)
            manifest = _load_json(folder, f"{node}/{STEPS_FILE}")
            if manifest.get("node") != node or manifest.get("lab") != lab:
                raise _Damaged(f"{node}/{STEPS_FILE} names another node or lab")
            nodes[node] = tuple(_step(folder, node, r, waves) for r in _need(manifest.get("roles"), list, "roles"))
    except (_Damaged, UnicodeDecodeError) as exc:
        raise LabctlError(f"rendered lab {folder} is damaged: {exc}") from None
    except ValueError as exc:  # check_format: no valid version
        raise LabctlError(f"rendered lab {folder} is damaged: {exc}") from None
    return RenderedLab(lab=lab, waves=tuple(waves), nodes=nodes)


# -- `labctl render`: what would be pushed, with no VM --------------------------------------------
@dataclass(frozen=True)
class RenderSummary:
    lab: str
    output: Path
    files: dict[str, int]  # node -> files written
    placeholders: tuple[str, ...]  # secrets that are placeholders, not the running lab's

    def to_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "output": str(self.output),
            "nodes": dict(self.files),
            "files": sum(self.files.values()),
            "placeholder_secrets": list(self.placeholders),
        }


def preview_secrets(plan: LabPlan) -> tuple[dict[str, str], tuple[str, ...]]:
    """The running lab's secrets when it is running here and readable; a clearly marked placeholder
    for every one it does not have. Returns (secrets, the names of the placeholders)."""
    try:
        stored = read_secrets(plan.lab) if load_state(plan.lab) is not None else {}
    except (LabctlError, OSError):
        stored = {}
    stand_ins = placeholder_secrets(plan)
    values = {name: stored.get(name) or stand_in for name, stand_in in stand_ins.items()}
    return values, tuple(name for name in stand_ins if not stored.get(name))


def check_output(output: Path, force: bool) -> None:
    """An output folder is new, empty, or (with --force) one whose files labctl may overwrite."""
    if output.exists() or output.is_symlink():
        if not output.is_dir():
            raise LabctlError(f"cannot write into {output}: it is not a folder")
        if not force and any(output.iterdir()):
            raise LabctlError(
                f"{output} exists and is not empty; --force writes over the files labctl writes there "
                "(nothing is deleted)"
            )


def render_to_folder(plan: LabPlan, output: Path, force: bool = False) -> RenderSummary:
    """Render every node of `plan` into `output` (see write_rendered), with no VM and no root."""
    check_output(output, force)
    values, placeholders = preview_secrets(plan)
    counts = write_rendered(output, render_plan(plan, values))
    return RenderSummary(lab=plan.lab, output=output, files=counts, placeholders=placeholders)
