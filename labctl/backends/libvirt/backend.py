"""LibvirtBackend: one transient QEMU domain per node, one Linux bridge per segment."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import libvirt

from labctl import cancel
from labctl.backends.base import SPICE_SECRET, ExecResult, NodeInfo, Progress
from labctl.backends.libvirt import daemon, hostnet, kvm, naming
from labctl.backends.libvirt.agent import AgentError, GuestAgent
from labctl.backends.libvirt.bootwatch import BootWatch, Verdict, clean, describe, read_console
from labctl.backends.libvirt.cloning import Clone, ensure_template, restore
from labctl.backends.libvirt.domain_xml import METADATA_NS, BootFiles, domain_xml
from labctl.backends.libvirt.hostfiles import audio_file, boot_files, overlay_on, run
from labctl.backends.libvirt.lab_snapshot import NodeFiles, reset_lab, take_snapshot
from labctl.backends.libvirt.record import BRIDGES, DOMAINS, NodeRecord, node_record, store
from labctl.backends.libvirt.template import Template, TemplateError, mark_corrupt
from labctl.backends.netem import netem_argv
from labctl.backends.teardown import remove_all
from labctl.cancel import run_parallel
from labctl.compile.plan import Interface, LabPlan, NetemPlan, NodePlan
from labctl.errors import LabctlError
from labctl.images import ImageArtifacts
from labctl.paths import state_dir
from labctl.state import LabState, lab_secrets, saved_plan
from labctl.state.snapshots import snapshot_folder

COLD_ASKED = "--cold"
DESKTOP_COLD = "a desktop boots cold (its session and sound card are not in templates yet)"
CONSOLE_TAIL_LINES = 15
SETUP_TIMEOUT = 60.0
BOOT_STALL = 240.0  # no new console text for this long: the node is stuck
MAX_RESTARTS = 2  # restarts of one node after a kernel panic or a reset, per `up`


class LibvirtBackend:
    name = "libvirt"

    def __init__(
        self, images: dict[str, ImageArtifacts] | None = None, disks: dict[str, Path] | None = None, cold: bool = False
    ) -> None:
        self.uri = daemon.uri()
        self.images = images or {}
        self.disks = disks or {}  # node -> the disk it starts from (a saved overlay), instead of a fresh one
        self.cold = cold  # boot every node cold, never from a template
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()  # nodes are waited for in parallel threads

    # -- host ---------------------------------------------------------------------------
    @property
    def conn(self) -> libvirt.virConnect:
        with self._lock:
            if self._conn is None:
                daemon.quiet_libvirt()
                try:
                    self._conn = libvirt.open(self.uri)
                except libvirt.libvirtError:
                    raise LabctlError(f"libvirtd is not reachable at {self.uri}; {daemon.how_to_start()}") from None
            return self._conn

    def check_host(self) -> None:
        _ = self.conn
        if os.geteuid() != 0:
            raise LabctlError("labctl must run as root to create bridges and domains")

    def accel(self) -> str:
        return "kvm" if kvm.kvm_verdict().usable else "tcg"

    # -- lifecycle ----------------------------------------------------------------------
    def create(self, plan: LabPlan, state: LabState, progress: Progress) -> None:
        """Bridges, then every node at once: restored from a booted template of its image and
        memory size (built first when missing), or booted cold with `--cold`, from a saved disk,
        or when its template fails (the reason is kept in the node's record)."""
        for segment in plan.segments:
            bridge = naming.bridge_name(plan.lab, segment.name)
            state.record(BRIDGES, bridge)
            hostnet.create_bridge(bridge, hostnet.bridge_alias(plan.lab, segment.name))
        progress("", f"{len(plan.segments)} bridges ready")
        # the lab's SPICE password is made on first use: once, here, before nodes start side by side
        # (two starting nodes would each make one, and a display would keep a password nobody has)
        lab_secrets(plan.lab, (SPICE_SECRET,))
        records = {node.name: self._new_record(plan, node, state) for node in plan.nodes}
        chosen = self._templates(plan, state.accel, progress)
        run_parallel([self._starter(plan, n, state, records[n.name], chosen[n.name], progress) for n in plan.nodes])

    def _new_record(self, plan: LabPlan, node: NodePlan, state: LabState) -> NodeRecord:
        """The node's record, in the state before its domain exists."""
        if self.images.get(node.image) is None:
            raise LabctlError(f"image '{node.image}' of node '{node.name}' is not built")
        folder = state.folder / "nodes"
        folder.mkdir(parents=True, exist_ok=True)
        name = naming.domain_name(plan.lab, node.name)
        record = NodeRecord(
            domain=name,
            overlay=str(folder / f"{node.name}.qcow2"),
            console_log=str(folder / f"{node.name}.console.log"),
        )
        state.nodes[node.name] = record.to_dict()
        state.record(DOMAINS, name)
        return record

    def _templates(self, plan: LabPlan, accel: str, progress: Progress) -> dict[str, Template | str]:
        """For each node, its template, or why it boots cold. Nodes of one image, memory size and
        vCPU count share a template; missing ones are built side by side."""
        chosen: dict[str, Template | str] = {}
        groups: dict[tuple[str, int, int], list[NodePlan]] = {}
        for node in plan.nodes:
            if self.cold:
                chosen[node.name] = COLD_ASKED
            elif node.name in self.disks:
                chosen[node.name] = "it starts from its saved disk"
            elif node.desktop is not None:
                chosen[node.name] = DESKTOP_COLD
            else:
                groups.setdefault((node.image, node.memory, node.vcpus), []).append(node)
        lock = threading.Lock()

        def build(nodes: list[NodePlan]) -> Callable[[], None]:
            def job() -> None:
                try:
                    image = self.images[nodes[0].image]
                    found: Template | str = ensure_template(self.uri, image, nodes[0], accel, progress)
                except cancel.Cancelled:
                    raise
                except LabctlError as exc:
                    found = f"its template could not be built: {exc}"
                    progress("", f"{found}; booting {len(nodes)} node(s) cold")
                with lock:
                    chosen.update({n.name: found for n in nodes})

            return job

        run_parallel([build(nodes) for nodes in groups.values()])
        return chosen

    def _starter(
        self,
        plan: LabPlan,
        node: NodePlan,
        state: LabState,
        record: NodeRecord,
        template: Template | str,
        progress: Progress,
    ) -> Callable[[], None]:
        def start() -> None:
            note = template if isinstance(template, str) else ""
            if isinstance(template, Template):
                note = self._clone(plan.lab, node, record, template)
            if note:
                self._remove_domain(record.domain)  # what a failed restore left
                record.spice_port = self._boot(plan.lab, node, record, state.accel)
                record.boot, record.boot_note = "cold", note
                progress(node.name, f"started (cold boot: {note})" if note != COLD_ASKED else "started (cold boot)")
            else:
                progress(node.name, f"restored from {record.boot}")
            with self._state_lock:
                store(state, node.name, record)

        return start

    def _clone(self, lab: str, node: NodePlan, record: NodeRecord, template: Template) -> str:
        """Restore the node from `template`; "" when it worked, else why not (a template that QEMU
        cannot load is marked corrupt, so the next `up` builds it again)."""
        clone = Clone(
            lab=lab,
            node=node,
            domain=record.domain,
            overlay=Path(record.overlay),
            console_log=Path(record.console_log),
            serial_socket=naming.serial_socket(Path(record.overlay).parent, node.name),
            spice_password=lab_secrets(lab, (SPICE_SECRET,))[SPICE_SECRET],
        )
        try:
            restore(self.uri, template, self.images[node.image], clone)
        except cancel.Cancelled:
            raise  # Ctrl-C: no cold boot instead, the lab is being removed
        except TemplateError as exc:
            mark_corrupt(template, str(exc))
            return f"template {template.short} is unusable ({exc}); it is built again next time"
        except LabctlError as exc:
            return f"restoring it from template {template.short} failed: {exc}"
        record.boot = f"template {template.short}"
        record.spice_port = _spice_port(self.conn.lookupByName(record.domain))
        return ""

    def _start_node(self, plan: LabPlan, node: NodePlan, state: LabState) -> None:
        """One node booted cold (tests, and nodes that cannot use a template)."""
        record = self._new_record(plan, node, state)
        record.spice_port = self._boot(plan.lab, node, record, state.accel)
        record.boot = "cold"
        store(state, node.name, record)

    def _boot(self, lab: str, node: NodePlan, node_state: NodeRecord, accel: str) -> int | None:
        """Create the node's overlay (afresh, or a copy of the disk it was given) and start its
        domain; return its SPICE port."""
        image = self.images.get(node.image)
        if image is None:
            raise LabctlError(f"image '{node.image}' of node '{node.name}' is not built")
        overlay = Path(node_state.overlay)
        given = self.disks.get(node.name)
        if given is None:
            overlay_on(image.disk, overlay)
        else:
            # a saved overlay: its changes over this very image (the caller checked its bytes), so
            # only the name of its backing file changes, not a byte of what the guest sees
            _check_saved_disk(given, node.name)
            overlay.unlink(missing_ok=True)
            shutil.copyfile(given, overlay)
            run(["qemu-img", "rebase", "-u", "-f", "qcow2", "-F", "qcow2", "-b", str(image.disk), str(overlay)])
            os.chmod(overlay, 0o600)  # the node's disk: its secrets, readable by no other user
        kernel, initrd, as_root = boot_files(
            image, overlay.parent, [overlay], private=[state_dir(), overlay.parent.parent, overlay.parent]
        )
        socket = str(naming.serial_socket(overlay.parent, node.name))
        boot = BootFiles(
            str(kernel),
            str(initrd),
            node_state.overlay,
            node_state.console_log,
            str(image.disk),
            serial_socket=socket,
            audio_file=str(audio_file(overlay.parent / f"{node.name}.audio.wav", as_root))
            if node.desktop is not None and node.desktop.sound == "file"
            else "",
        )
        spice = lab_secrets(lab, (SPICE_SECRET,))[SPICE_SECRET]
        xml = domain_xml(lab, node_state.domain, node, boot, accel, run_as_root=as_root, spice_password=spice)
        try:
            domain = self.conn.createXML(xml, 0)
        except libvirt.libvirtError as exc:
            raise LabctlError(f"libvirt could not start node '{node.name}': {exc.get_error_message()}") from None
        return _spice_port(domain)

    def _record(self, state: LabState, node: str) -> NodeRecord:
        record = node_record(state, node)
        if record is None:
            known = ", ".join(sorted(state.nodes))
            raise LabctlError(f"lab '{state.lab}' has no node '{node}' (nodes: {known})")
        return record

    def _restart(self, state: LabState, node: str, why: str) -> None:
        """Destroy the node's domain and boot it again from a fresh overlay; the old console is kept
        beside the new one (<node>.console.log.<n>) for the post-mortem."""
        node_state = self._record(state, node)
        try:
            self.conn.lookupByName(node_state.domain).destroy()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise LabctlError(f"cannot stop node '{node}' to restart it: {exc.get_error_message()}") from None
        with self._state_lock:
            node_state.restarts.append(why)
            attempt = len(node_state.restarts)
            store(state, node, node_state)
        log = Path(node_state.console_log)
        if log.exists():
            log.replace(log.with_name(f"{log.name}.{attempt}"))
        port = self._boot(state.lab, saved_plan(state).node(node), node_state, state.accel)
        with self._state_lock:
            node_state.spice_port = port
            node_state.boot = "cold"  # a restart always boots cold
            store(state, node, node_state)

    def wait_ready(self, state: LabState, node: str, timeout: float, progress: Progress | None = None) -> None:
        """Wait for the node's guest agent while its console shows progress (see bootwatch); restart
        the node after a kernel panic or a reset, at most MAX_RESTARTS times; `timeout` is the hard
        ceiling of one boot attempt."""
        say = progress or (lambda _n, _m: None)
        watch = BootWatch(time.monotonic(), stall=min(BOOT_STALL, timeout), ceiling=timeout)
        while True:
            agent = self._agent_if_running(state, node)
            if agent is not None and agent.ping():
                return
            record = self._record(state, node)
            text = read_console(Path(record.console_log))
            verdict = (
                watch.observe(time.monotonic(), text)
                if agent is not None
                else Verdict("reset", "the node's domain stopped")
            )
            if verdict.restartable and len(record.restarts) < MAX_RESTARTS:
                say(node, f"{verdict.reason}; restarting it ({len(record.restarts) + 1}/{MAX_RESTARTS})")
                self._restart(state, node, verdict.reason)
                watch = BootWatch(time.monotonic(), stall=min(BOOT_STALL, timeout), ceiling=timeout)
            elif verdict.kind != "booting":
                raise LabctlError(_not_ready(node, verdict, record.restarts, text))
            cancel.sleep(1)

    def _agent_if_running(self, state: LabState, node: str) -> GuestAgent | None:
        name = self._record(state, node).domain
        try:
            domain = self.conn.lookupByName(name)
            return GuestAgent(domain, node) if domain.isActive() else None
        except libvirt.libvirtError:
            return None

    def destroy(self, lab: str, state: LabState | None, progress: Progress) -> list[str]:
        """Every domain at once (each thread with its own libvirt connection: libvirtd serves only a
        few calls of one connection at a time), then every bridge and any tap left behind; every
        object is tried, the errors come together at the end (see labctl.backends.teardown)."""
        recorded = state.objects if state else {}
        domains = remove_all(
            "domain", [*recorded.get(DOMAINS, []), *self._domains_of(lab)], self._remove_domain, progress
        )
        bridges = remove_all(
            "bridge", [*recorded.get(BRIDGES, []), *hostnet.bridges_of(lab)], hostnet.delete_link, progress
        )
        links = hostnet.link_names()
        taps = remove_all("tap", [tap for tap in _taps(state) if tap in links], hostnet.delete_link, progress)
        return (domains + bridges + taps).check(lab)

    def _remove_domain(self, name: str) -> bool:
        """Stop and undefine one domain through a connection of its own; False if it is not there."""
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise LabctlError(f"libvirtd is not reachable at {self.uri}: {exc.get_error_message()}") from None
        try:
            domain = conn.lookupByName(name)
            persistent = domain.isPersistent()
            if domain.isActive():
                domain.destroy()
            if persistent:
                domain.undefine()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return False
            raise LabctlError(exc.get_error_message()) from None
        finally:
            conn.close()
        return True

    def leftovers(self, plan: LabPlan) -> list[str]:
        links = hostnet.link_names()
        found = [f"domain {name}" for name in self._domains_of(plan.lab)]
        planned = {naming.bridge_name(plan.lab, s.name) for s in plan.segments}
        found += [f"bridge {name}" for name in sorted(set(hostnet.bridges_of(plan.lab)) | (planned & links))]
        taps = [naming.tap_name(plan.lab, n.name, i.name) for n in plan.nodes for i in n.interfaces]
        found += [f"tap {tap}" for tap in taps if tap in links]
        return found

    def _domains_of(self, lab: str) -> list[str]:
        prefix = naming.domain_name(lab, "")
        return [d.name() for d in self.conn.listAllDomains() if d.name().startswith(prefix)]

    # -- operations on running nodes ----------------------------------------------------
    def _domain(self, state: LabState, node: str) -> libvirt.virDomain:
        name = self._record(state, node).domain
        try:
            return self.conn.lookupByName(name)
        except libvirt.libvirtError:
            raise LabctlError(f"node '{node}' of lab '{state.lab}' is not running") from None

    def _agent(self, state: LabState, node: str) -> GuestAgent:
        return GuestAgent(self._domain(state, node), node)

    def exec(self, state: LabState, node: str, command: str, timeout: float, stdin: bytes | None = None) -> ExecResult:
        agent = self._agent(state, node)
        if stdin is not None and len(stdin) > INPUT_LIMIT:
            return _exec_fed_from_file(agent, command, timeout, stdin)
        return agent.exec(["/bin/sh", "-c", command], timeout, stdin)

    def read_file(self, state: LabState, node: str, path: str, limit: int) -> bytes:
        return self._agent(state, node).read_file(path, limit)

    def _interface(self, state: LabState, node: str, name: str) -> Interface:
        try:
            interfaces = saved_plan(state).node(node).interfaces
        except KeyError:
            raise LabctlError(f"lab '{state.lab}' has no node '{node}'") from None
        for iface in interfaces:
            if name in (iface.name, iface.segment):
                return iface
        names = ", ".join(i.name for i in interfaces)
        raise LabctlError(f"node '{node}' has no interface '{name}' (it has: {names})")

    def _tap(self, state: LabState, node: str, interface: str) -> str:
        """The host side of one of the node's interfaces (named by interface or segment)."""
        return naming.tap_name(state.lab, node, self._interface(state, node, interface).name)

    def set_link(self, state: LabState, node: str, interface: str, up: bool) -> None:
        hostnet.set_state(self._tap(state, node, interface), up)

    def capture_device(self, state: LabState, node: str, interface: str) -> str:
        tap = self._tap(state, node, interface)
        if tap not in hostnet.link_names():
            raise LabctlError(f"node '{node}' is not running: its {interface} has no device on this host ({tap})")
        return tap

    def set_netem(self, state: LabState, node: str, interface: str, netem: NetemPlan | None) -> None:
        argv = netem_argv(self._interface(state, node, interface).name, netem)
        result = self._agent(state, node).exec(argv, timeout=SETUP_TIMEOUT)
        if netem is not None and not result.ok:
            raise LabctlError(f"tc netem on '{node}' {interface} failed: {result.stderr.strip()}")

    def node_info(self, state: LabState, node: str) -> NodeInfo:
        record = node_record(state, node)
        if record is None:
            return NodeInfo("missing", details={"domain": None})
        try:
            status = "running" if self.conn.lookupByName(record.domain).isActive() else "shut off"
        except libvirt.libvirtError:
            status = "missing"
        display = f"spice://127.0.0.1:{record.spice_port}" if record.spice_port else None
        details = {"domain": record.domain, "boot": record.boot or "cold"}
        if record.boot_note:
            details["boot_note"] = record.boot_note
        serial = _serial_socket(record, node) if status == "running" else None
        return NodeInfo(status, display, tuple(record.restarts), details, serial)

    def export_disk(self, state: LabState, node: str, dest: Path) -> None:
        """A consistent copy of the node's overlay (its changes over the image) at `dest`, 0600: the
        guest's filesystems frozen through the agent (synced when it cannot freeze them) and the
        domain paused while the file is copied, then checked with `qemu-img check`."""
        domain = self._domain(state, node)
        agent = GuestAgent(domain, node)
        frozen = _freeze(agent)
        try:
            domain.suspend()
            try:
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out, open(self._record(state, node).overlay, "rb") as disk:
                    shutil.copyfileobj(disk, out, 2**20)
            finally:
                domain.resume()
        except libvirt.libvirtError as exc:
            raise LabctlError(f"cannot pause node '{node}' to copy its disk: {exc.get_error_message()}") from None
        finally:
            if frozen:
                agent.call("guest-fsfreeze-thaw", timeout=int(SETUP_TIMEOUT))
        _onto_image(dest)
        run(["qemu-img", "check", "-q", "-f", "qcow2", str(dest)])

    # -- whole-lab snapshots (see lab_snapshot.py) -----------------------------------------
    def _snapshot_files(self, state: LabState, name: str) -> list[NodeFiles]:
        folder = snapshot_folder(state.lab, name)
        files = []
        for node in sorted(state.nodes):
            record = self._record(state, node)
            saved, frozen = folder / f"{node}.save", folder / f"{node}.qcow2"
            files.append(NodeFiles(node, record.domain, Path(record.overlay), saved, frozen))
        return files

    def snapshot(self, state: LabState, name: str, progress: Progress) -> None:
        try:
            take_snapshot(self.uri, self._snapshot_files(state, name), progress)
        finally:
            self._note_ports(state)

    def reset(self, state: LabState, name: str, progress: Progress) -> None:
        try:
            reset_lab(self.uri, self._snapshot_files(state, name), progress, self._remove_domain)
        finally:
            self._note_ports(state)

    def _note_ports(self, state: LabState) -> None:
        """A restored domain may get another SPICE port: the records follow."""
        for node in sorted(state.nodes):
            record = self._record(state, node)
            try:
                record.spice_port = _spice_port(self.conn.lookupByName(record.domain))
            except libvirt.libvirtError:
                continue
            with self._state_lock:
                store(state, node, record)

    def console(self, state: LabState, node: str) -> None:
        self._domain(state, node)
        os.execvp("virsh", ["virsh", "-c", self.uri, "console", "--force", self._record(state, node).domain])


def _check_saved_disk(disk: Path, node: str) -> None:
    """A saved disk comes from a bundle, perhaps a hostile one: it must be a plain qcow2 overlay.
    A qcow2 can name an external data file, which QEMU would open on the host: refused."""
    result = subprocess.run(
        ["qemu-img", "info", "-f", "qcow2", "--output=json", str(disk)], capture_output=True, text=True
    )
    try:
        info = json.loads(result.stdout) if result.returncode == 0 else {}
    except ValueError:
        info = {}
    specific = ((info.get("format-specific") or {}).get("data") or {}) if isinstance(info, dict) else {}
    if not info or info.get("format") != "qcow2" or "data-file" in specific:
        raise LabctlError(f"the saved disk of node '{node}' is not a plain qcow2 overlay; it is not booted")


def _onto_image(disk: Path) -> None:
    """A node restored from a template has its overlay over the template's disk, not the image; a
    saved disk must hold its changes over the image alone (a replay sets the image under it), so the
    template's own clusters are copied into the copy (a safe rebase: qemu-img compares both chains)."""
    result = subprocess.run(
        ["qemu-img", "info", "-f", "qcow2", "--backing-chain", "--output=json", str(disk)],
        capture_output=True,
        text=True,
    )
    try:
        chain = json.loads(result.stdout) if result.returncode == 0 else []
    except ValueError:
        chain = []
    if not isinstance(chain, list) or len(chain) < 2:
        raise LabctlError(f"cannot read the backing chain of {disk}: {result.stderr.strip()}")
    if len(chain) > 2:
        image = str(chain[-1]["filename"])
        run(["qemu-img", "rebase", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image, str(disk)])


def _freeze(agent: GuestAgent) -> bool:
    """Freeze the guest's filesystems (flushed to the disk, no writes until thawed); a guest whose
    agent cannot freeze them is synced instead. Whether they were frozen."""
    try:
        agent.call("guest-fsfreeze-freeze", timeout=int(SETUP_TIMEOUT))
        return True
    except AgentError:
        _check(agent.exec(["/bin/sync"], timeout=SETUP_TIMEOUT), agent.node, "sync")
        return False


def _taps(state: LabState | None) -> list[str]:
    """The taps of the lab's saved plan (libvirt removes a domain's taps with it; a tap can outlive
    its domain only when libvirtd died); none when there is no readable plan."""
    if state is None:
        return []
    try:
        plan = saved_plan(state)
    except LabctlError:
        return []
    return [naming.tap_name(state.lab, n.name, i.name) for n in plan.nodes for i in n.interfaces]


def _check(result: ExecResult, node: str, what: str) -> None:
    if not result.ok:
        raise LabctlError(f"{what} on '{node}' failed: {result.stderr.strip() or result.stdout.strip()}")


def _serial_socket(record: NodeRecord, node: str) -> str | None:
    """The node's login console socket, when its QEMU listens on one (a node started before labctl
    gave nodes one has none)."""
    try:
        path = naming.serial_socket(Path(record.overlay).parent, node)
        return str(path) if stat.S_ISSOCK(path.stat().st_mode) else None
    except (LabctlError, OSError):
        return None


def _spice_port(domain: libvirt.virDomain) -> int | None:
    match = re.search(r"<graphics type='spice' port='(\d+)'", domain.XMLDesc(0))
    return int(match.group(1)) if match else None


def _tail(text: str, lines: int) -> str:
    rows = [row for row in clean(text).splitlines() if row.strip()][-lines:]
    return "\n".join("  " + row for row in rows) if rows else "  (the console is empty)"


def _not_ready(node: str, verdict: Verdict, restarts: list[str], text: str) -> str:
    after = (
        f" (after {len(restarts)} restart{'s' if len(restarts) != 1 else ''}: {'; '.join(restarts)})"
        if restarts
        else ""
    )
    failed = describe(text)
    cause = f"\n  failed units: {failed}" if failed and failed not in verdict.reason else ""
    return (
        f"node '{node}' did not answer on its guest agent: {verdict.reason}{after}{cause}\n"
        f"last console lines:\n{_tail(text, CONSOLE_TAIL_LINES)}"
    )


INPUT_LIMIT = 1 << 20  # a stdin this small rides in the guest-exec call (base64, under libvirt's 4 MiB)
STDIN_FOLDER = "/root"  # root's own folder (0700 on the images): a step's stdin holds its secrets


def _exec_fed_from_file(agent: GuestAgent, command: str, timeout: float, stdin: bytes) -> ExecResult:
    """`command` fed a large stdin: written to a file of root's first (guest-file writes of CHUNK
    each), which the same guest-exec removes once the command has read it."""
    path = f"{STDIN_FOLDER}/.labctl-stdin-{secrets.token_hex(8)}"
    agent.write_file(path, stdin)
    script = f'exec <{shlex.quote(path)} && rm -f -- "$2" && exec /bin/sh -c "$1"'
    return agent.exec(["/bin/sh", "-c", script, "labctl-stdin", command, path], timeout)


__all__ = ["METADATA_NS", "LibvirtBackend"]
