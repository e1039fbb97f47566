"""A file path on a guest, as a template rendered it: refused unless it is plainly absolute.

Rendered paths come from templates fed by the topology (hostile input is normal input). The same
path names a file on the node and, under `rendered/<node>/files/`, a file on the host, so one that
is relative, holds `.`, `..` or an empty component, or carries a control character is refused
before anything is written anywhere.
"""

from __future__ import annotations

PATH_MAX = 4096
NAME_MAX = 255


def guest_path_problem(path: str) -> str | None:
    """Why `path` is not a safe absolute guest path, or None."""
    if not path.startswith("/"):
        return "it is not absolute"
    if len(path.encode()) > PATH_MAX:
        return f"it is longer than {PATH_MAX} bytes"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "it holds a control character"
    parts = path[1:].split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it holds an empty, '.' or '..' component"
    if any(len(part.encode()) > NAME_MAX for part in parts):
        return f"one of its names is longer than {NAME_MAX} bytes"
    return None


def check_guest_path(path: str) -> str:
    """`path` itself, or ValueError saying why it cannot be written."""
    problem = guest_path_problem(path)
    if problem is not None:
        raise ValueError(f"refusing the file path {path!r}: {problem}")
    return path
