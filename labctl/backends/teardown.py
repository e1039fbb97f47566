"""Removing a lab's host objects all at once: one thread per object, every object tried.

Stopping a QEMU domain costs one to two seconds of waiting for the process to go, nearly all of
it idle, so a lab's domains are destroyed side by side rather than one after another. One
object's error does not stop the others; the errors come back together, after every object was
tried. The result does not depend on thread timing: removed and failed objects are listed in
sorted order, whatever order the threads finished in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from labctl.backends.base import Progress
from labctl.errors import LabctlError

MAX_THREADS = 16

Remove = Callable[[str], bool]
"""Remove one object by its name: True when it was removed, False when it was not there; raises
LabctlError when it could not be removed."""


@dataclass
class Removal:
    removed: list[str] = field(default_factory=list)  # "<kind> <name>", sorted by name
    failed: list[str] = field(default_factory=list)  # "<kind> <name>: why", sorted by name

    def __add__(self, other: Removal) -> Removal:
        return Removal(self.removed + other.removed, self.failed + other.failed)

    def check(self, lab: str) -> list[str]:
        """What was removed, or one line naming every object that could not be removed."""
        if self.failed:
            count = len(self.failed)
            raise LabctlError(
                f"could not remove {count} object{'s' if count != 1 else ''} of lab '{lab}' "
                f"(the others are gone; run `labctl down {lab}` again): {'; '.join(self.failed)}"
            )
        return self.removed


def remove_all(kind: str, names: Iterable[str], remove: Remove, progress: Progress) -> Removal:
    """Run `remove` on every name at once; each removal is reported through `progress` (from the
    calling thread) as it ends."""
    unique = sorted(set(names))
    if not unique:
        return Removal()
    outcomes: dict[str, bool | str] = {}  # True removed, False absent, str: why it failed
    with ThreadPoolExecutor(max_workers=min(len(unique), MAX_THREADS), thread_name_prefix="down") as pool:
        futures = {pool.submit(remove, name): name for name in unique}
        for future in as_completed(futures):
            name = futures[future]
            try:
                outcomes[name] = future.result()
            except LabctlError as exc:
                outcomes[name] = str(exc)
                progress("", f"could not remove {kind} {name}: {exc}")
            else:
                if outcomes[name] is True:
                    progress("", f"removed {kind} {name}")
    return Removal(
        removed=[f"{kind} {name}" for name in unique if outcomes[name] is True],
        failed=[f"{kind} {name}: {why}" for name in unique if isinstance(why := outcomes[name], str)],
    )
