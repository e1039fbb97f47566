"""One role step on one node in one shell run: skip_when, the step's files, its commands and a
first look at its readiness probe, in a single guest-exec. Pure: the script and the archive fed to
its stdin are built here, and its output is read back here; nothing runs.

Under TCG an agent round trip is cheap (3 ms measured) but every program the guest starts costs
40-60 ms, so the script starts as few as it can: the step's files travel as one tar on its stdin
(regular files only, their names checked as guest paths), extracted by one `tar` that creates
their folders and sets their modes; `chown` (then `chmod` again, as chown clears set-id bits) runs
only for files not owned by root, once per owner. Each command runs in a subshell of the script
(`( eval '...' )`: a fork, no new program), so `exit`, `cd` or `set -e` in one command stay in it.
Each part prints a marker (`@@labctl:<nonce>:<part>`) on stdout and stderr before it runs, so the
output and exit code of the part that failed can be told apart from the rest. The guest needs a
POSIX shell, GNU tar, chown and chmod.

One difference from writing each file through the agent: a symbolic link at a file's own path is
replaced by the file (tar --overwrite) instead of being written through.
"""

from __future__ import annotations

import io
import re
import shlex
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from labctl.backends.base import ExecResult, FileSpec
from labctl.render.guest_path import guest_path_problem
from labctl.render.render import RoleStep

SKIP_TIMEOUT = 30  # seconds each part may take, added up into the run's timeout
FILES_TIMEOUT = 60
ROOT_OWNERS = ("root", "root:root")
SKIP = "skip"
FILES = "files"
READY_OK = "ready-ok"

_MODE = re.compile(r"0?[0-7]{3,4}")
_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*\$?"
_OWNER = re.compile(rf"{_NAME}(:{_NAME})?")


@dataclass(frozen=True)
class StepRun:
    """The shell script that does a step, what to feed its stdin, and how long it may take."""

    script: str
    stdin: bytes | None
    timeout: float


@dataclass(frozen=True)
class Outcome:
    """What the script's output says: 'done' (ready: whether the first probe held), 'skipped',
    'failed' in `part` (FILES or the index of a command) or 'broken' (no final marker: the
    script itself was stopped); `detail` is the tail of that part's output."""

    kind: Literal["done", "skipped", "failed", "broken"]
    part: str = ""
    exit_code: int = 0
    detail: str = ""
    ready: bool = False


def tail(text: str, lines: int = 4) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def file_specs(step: RoleStep) -> list[FileSpec]:
    return [FileSpec(f.path, f.content.encode(), f.mode, f.owner) for f in step.files]


def check_file(file: FileSpec) -> None:
    """ValueError unless the file's path, mode and owner are safe to put in an archive and a script."""
    problem = guest_path_problem(file.path)
    if problem is not None:
        raise ValueError(f"refusing the file path {file.path!r}: {problem}")
    if not _MODE.fullmatch(file.mode):
        raise ValueError(f"refusing the mode {file.mode!r} of {file.path}: it is not an octal mode such as 0644")
    if not _OWNER.fullmatch(file.owner):
        raise ValueError(f"refusing the owner {file.owner!r} of {file.path}: it is not user or user:group")


def files_archive(files: Sequence[FileSpec]) -> bytes:
    """A tar of regular files only, named by their paths without the leading '/', with their
    modes and owners' names (uid/gid 0: the script chowns them again, failing on an unknown user,
    where tar would silently leave them to root).
    The last of two files with one path wins, as when they were written one after the other."""
    latest = {file.path: file for file in files}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for file in latest.values():
            check_file(file)
            info = tarfile.TarInfo(file.path[1:])
            info.size = len(file.data)
            info.mode = int(file.mode, 8)
            info.uid = info.gid = 0
            user, _, group = file.owner.partition(":")
            info.uname, info.gname = user, group or "root"
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(file.data))
    return raw.getvalue()


def _groups(files: Sequence[FileSpec], key: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for file in files:
        groups.setdefault(getattr(file, key), []).append(file.path)
    return groups


def _files_part(files: Sequence[FileSpec], root: str) -> str:
    def at(paths: list[str]) -> str:
        return " ".join(shlex.quote(root.rstrip("/") + path) for path in paths)

    latest = list({f.path: f for f in files}.values())
    owned = [f for f in latest if f.owner not in ROOT_OWNERS]
    steps = [
        f"tar -x -m -p --overwrite -f - -C {shlex.quote(root)}",
        *(f"chown -- {shlex.quote(owner)} {at(paths)}" for owner, paths in _groups(owned, "owner").items()),
        *(f"chmod -- {mode} {at(paths)}" for mode, paths in _groups(owned, "mode").items()),
    ]
    return "{ " + " && ".join(steps) + f"; }} || fail {FILES} $?"


def _subshell(command: str) -> str:
    return f"( eval {shlex.quote(command)} ) </dev/null"


def step_run(step: RoleStep, nonce: str, command_timeout: float, *, root: str = "/") -> StepRun:
    """The script for `step` (files extracted under `root`, '/' on a node) and its stdin.
    `nonce` must not occur in the step's output: a random one per run."""
    files = file_specs(step)
    for file in files:
        check_file(file)

    def mark(part: str) -> str:
        return f"mark {shlex.quote(part)}"

    lines = [
        "mark() { printf '\\n@@labctl:%s:%s\\n' " + shlex.quote(nonce) + ' "$1"; '
        "printf '\\n@@labctl:%s:%s\\n' " + shlex.quote(nonce) + ' "$1" >&2; }',
        'fail() { mark "fail:$1:$2"; exit "$2"; }',
    ]
    timeout = 30.0
    if step.skip_when:
        lines += [mark(SKIP), f"if {_subshell(step.skip_when)}; then mark skipped; exit 0; fi"]
        timeout += SKIP_TIMEOUT
    if files:
        lines += [mark(FILES), _files_part(files, root)]
        timeout += FILES_TIMEOUT
    for index, command in enumerate(step.commands):
        lines += [mark(str(index)), f"{_subshell(command)} || fail {index} $?"]
        timeout += command_timeout
    if step.ready is not None:
        lines += [mark("ready"), f"{_subshell(step.ready.command)} && {mark(READY_OK)}"]
        timeout += max(step.ready.timeout, 10)
    lines += [mark("done"), "exit 0"]
    return StepRun("\n".join(lines) + "\n", files_archive(files) if files else None, timeout)


def _parts(text: str, nonce: str) -> dict[str, str]:
    """The output of each part, by its marker's name (the text before the first marker under '')."""
    prefix = f"@@labctl:{nonce}:"
    parts: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        if line.startswith(prefix):
            current = line[len(prefix) :]
            parts[current] = []
        else:
            parts[current].append(line)
    return {name: "\n".join(lines) for name, lines in parts.items()}


def outcome(result: ExecResult, nonce: str) -> Outcome:
    out, err = _parts(result.stdout, nonce), _parts(result.stderr, nonce)
    failed = next((name for name in out if name.startswith("fail:")), None)
    if failed is not None:
        _, part, code = failed.split(":", 2)
        detail = tail(err.get(part, "")) or tail(out.get(part, "")) or "no output"
        return Outcome("failed", part, int(code), detail)
    if "skipped" in out:
        return Outcome("skipped", SKIP, 0, tail(out.get(SKIP, "")))
    if "done" in out:
        return Outcome("done", ready=READY_OK in out)
    detail = tail(result.stderr) or tail(result.stdout) or "no output"
    return Outcome("broken", "", result.exit_code, detail)
