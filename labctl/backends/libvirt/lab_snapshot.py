"""Whole-lab snapshots under libvirt: every node's RAM (libvirt's save file) and disk, taken at one
moment, and a lab brought back to it.

Taking one: every node is paused first (QEMU flushes its disk), so no node is saved while another
still runs; then each is saved (QEMU exits), its overlay becomes the snapshot's frozen disk (0400)
and a fresh overlay over it is made where the overlay was; each is restored from its own save
file with one more layer in its disk's chain (snapshot_xml.py), and all resume and get the host's
time. Resetting: every domain is stopped, each node gets a fresh overlay over its frozen disk and is
restored from the snapshot's save file the same way. Each node works in a thread with a libvirt
connection of its own (libvirtd serves only a few calls of one connection at a time).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import libvirt

from labctl.backends.base import Progress
from labctl.backends.libvirt import dac
from labctl.backends.libvirt.agent import GuestAgent
from labctl.backends.libvirt.guest_time import set_clock
from labctl.backends.libvirt.hostfiles import overlay_on
from labctl.backends.libvirt.snapshot_xml import SnapshotXmlError, disk_path, on_snapshot_disk, runs_as_root
from labctl.errors import LabctlError

MAX_THREADS = 16
PAUSED = libvirt.VIR_DOMAIN_SAVE_PAUSED


@dataclass(frozen=True)
class NodeFiles:
    node: str
    domain: str
    overlay: Path  # the node's disk, where its domain's XML points
    saved: Path  # <snapshot>/<node>.save: libvirt's save file (RAM and device state)
    frozen: Path  # <snapshot>/<node>.qcow2: the node's disk as it was at the save, read-only


Connections = dict[str, libvirt.virConnect]


@contextlib.contextmanager
def _connections(uri: str, nodes: list[NodeFiles]) -> Iterator[Connections]:
    conns: Connections = {}
    try:
        for n in nodes:
            try:
                conns[n.node] = libvirt.open(uri)
            except libvirt.libvirtError as exc:
                raise LabctlError(f"libvirtd is not reachable at {uri}: {exc.get_error_message()}") from None
        yield conns
    finally:
        for conn in conns.values():
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()


def _each(nodes: list[NodeFiles], job: Callable[[NodeFiles], object]) -> dict[str, str]:
    """Run `job` for every node at once; every node is tried. Why each failed, by node."""
    failed: dict[str, str] = {}
    if not nodes:
        return failed
    with ThreadPoolExecutor(max_workers=min(len(nodes), MAX_THREADS), thread_name_prefix="snap") as pool:
        futures = {pool.submit(job, n): n.node for n in nodes}
        for future in as_completed(futures):
            try:
                future.result()
            except libvirt.libvirtError as exc:
                failed[futures[future]] = exc.get_error_message()
            except (LabctlError, OSError) as exc:
                failed[futures[future]] = str(exc)
    return failed


def _but(nodes: list[NodeFiles], failed: dict[str, str]) -> list[NodeFiles]:
    return [n for n in nodes if n.node not in failed]


def _failure(what: str, failed: dict[str, str], after: str) -> LabctlError:
    why = "; ".join(f"node '{node}': {failed[node]}" for node in sorted(failed))
    return LabctlError(f"{what} failed ({why}); {after}")


def _domain(conns: Connections, n: NodeFiles) -> libvirt.virDomain:
    try:
        return conns[n.node].lookupByName(n.domain)
    except libvirt.libvirtError:
        raise LabctlError("it is not running") from None


_let_in_lock = threading.Lock()


def _let_qemu_in(folder: Path) -> None:
    """QEMU opens the frozen disk itself: its own user (when not root) must enter the folders."""
    who = dac.qemu_account()
    if who is not None and who.uid != 0:
        with _let_in_lock:
            dac.let_through([folder.parent, folder], who)


def _restore_on_frozen(conn: libvirt.virConnect, n: NodeFiles) -> None:
    """Restore the node (paused) from its save file, its disk a fresh overlay over its frozen disk."""
    saved = conn.saveImageGetXMLDesc(str(n.saved), libvirt.VIR_DOMAIN_SAVE_IMAGE_XML_SECURE)
    try:
        if disk_path(saved) != str(n.overlay):
            raise LabctlError(f"its save file names another disk ({disk_path(saved)})")
        xml = on_snapshot_disk(saved, str(n.overlay), str(n.frozen))
    except SnapshotXmlError as exc:
        raise LabctlError(str(exc)) from None
    if not runs_as_root(saved):
        _let_qemu_in(n.frozen.parent)
    conn.restoreFlags(str(n.saved), xml, PAUSED)


def _new_overlay(n: NodeFiles) -> None:
    overlay_on(n.frozen, n.overlay)


def _freeze_disk(n: NodeFiles) -> None:
    """The node's overlay (QEMU has exited) becomes its frozen disk; a fresh overlay takes its place."""
    os.rename(n.overlay, n.frozen)
    os.chmod(n.frozen, 0o400)
    try:
        _new_overlay(n)
    except BaseException:
        _thaw_disk(n)
        raise


def _thaw_disk(n: NodeFiles) -> None:
    """Undo _freeze_disk: the frozen disk is the node's overlay again."""
    if n.frozen.exists():
        n.overlay.unlink(missing_ok=True)
        os.chmod(n.frozen, 0o600)
        os.rename(n.frozen, n.overlay)


def _wake(conns: Connections, nodes: list[NodeFiles], progress: Progress) -> dict[str, str]:
    """Resume every node, then set its clock (a clock that cannot be set is only reported)."""
    failed = _each(nodes, lambda n: _domain(conns, n).resume())
    clocks = _each(_but(nodes, failed), lambda n: set_clock(GuestAgent(_domain(conns, n), n.node)))
    for node, why in sorted(clocks.items()):
        progress(node, f"its clock was not set: {why}")
    return failed


def _remove_files(nodes: list[NodeFiles]) -> None:
    for n in nodes:
        n.saved.unlink(missing_ok=True)


def _put_back(conns: Connections, saved: list[NodeFiles], paused: list[NodeFiles], progress: Progress) -> str:
    """After a failed snapshot: the saved nodes restored as they were, every node resumed; what
    could not be put back, in words."""
    lost = _each(saved, lambda n: conns[n.node].restoreFlags(str(n.saved), None, PAUSED))
    lost |= _wake(conns, _but(saved, lost) + paused, progress)
    _remove_files(saved)
    return _outcome(lost)


def _outcome(lost: dict[str, str]) -> str:
    if not lost:
        return "the lab runs on as before"
    why = "; ".join(f"'{node}': {lost[node]}" for node in sorted(lost))
    return f"the lab runs on as before, but for nodes not put back ({why}); `labctl down` removes the lab"


def take_snapshot(uri: str, nodes: list[NodeFiles], progress: Progress) -> None:
    """Pause all, save all, freeze every disk, restore all, resume all. On a failure the lab is put
    back as it was where it can be, and one line says what failed and what was put back."""
    with _connections(uri, nodes) as conns:
        failed = _each(nodes, lambda n: _domain(conns, n).suspend())
        if failed:
            lost = _wake(conns, _but(nodes, failed), progress)
            raise _failure("pausing", failed, _outcome(lost))
        progress("", f"{len(nodes)} nodes paused")
        failed = _each(nodes, lambda n: _domain(conns, n).saveFlags(str(n.saved), None, PAUSED))
        if failed:
            unsaved = [n for n in nodes if n.node in failed]
            raise _failure("saving", failed, _put_back(conns, _but(nodes, failed), unsaved, progress))
        progress("", f"{len(nodes)} nodes saved")
        failed = _each(nodes, _freeze_disk)
        if failed:
            for n in _but(nodes, failed):
                _thaw_disk(n)
            raise _failure("freezing the disks", failed, _put_back(conns, nodes, [], progress))
        failed = _each(nodes, lambda n: _restore_on_frozen(conns[n.node], n))

        def as_it_was(n: NodeFiles) -> None:
            _thaw_disk(n)
            conns[n.node].restoreFlags(str(n.saved), None, PAUSED)

        lost = _each([n for n in nodes if n.node in failed], as_it_was)
        lost |= _wake(conns, [n for n in nodes if n.node not in lost], progress)
        if failed or lost:
            gone = f"; not running now: {', '.join(sorted(lost))}" if lost else ""
            raise _failure(
                "restoring on the frozen disks",
                failed | lost,
                f"the snapshot is incomplete, nodes that failed were put back as they were{gone}",
            )
        progress("", f"{len(nodes)} nodes resumed")


def reset_lab(uri: str, nodes: list[NodeFiles], progress: Progress, remove_domain: Callable[[str], bool]) -> None:
    """Stop every node, give each a fresh overlay over its frozen disk, restore all from the
    snapshot's save files, resume all. A node that fails is left stopped, and named."""
    missing = sorted(n.node for n in nodes if not n.saved.is_file() or not n.frozen.is_file())
    if missing:
        raise LabctlError(f"the snapshot holds no files for node(s) {', '.join(missing)}; nothing was reset")
    failed = _each(nodes, lambda n: remove_domain(n.domain))
    progress("", f"{len(nodes) - len(failed)} nodes stopped")
    with _connections(uri, nodes) as conns:
        restoring = _but(nodes, failed)

        def restore(n: NodeFiles) -> None:
            _new_overlay(n)
            _restore_on_frozen(conns[n.node], n)

        failed |= _each(restoring, restore)
        failed |= _wake(conns, _but(restoring, failed), progress)
    if failed:
        raise _failure("resetting", failed, "the other nodes run from the snapshot; reset again, or `labctl down`")
    progress("", f"{len(nodes)} nodes restored and resumed")
