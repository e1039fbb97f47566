"""Nodes from booted templates: build a template once (one cold boot, then libvirt's save), and
restore a node from it with its own name, disk, NICs, clock, machine-id and entropy.

See labctl/backends/libvirt/template.py for the cache, savefile.py for the header a clone gets,
and docs/DESIGN.md, "Booted templates", for the measurements behind each step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import re
import secrets
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import libvirt

from labctl import cancel
from labctl.backends.base import Progress
from labctl.backends.libvirt import template as templates
from labctl.backends.libvirt.agent import AgentError, GuestAgent
from labctl.backends.libvirt.bootwatch import BootWatch, read_console
from labctl.backends.libvirt.clone_xml import CloneFiles, CloneXmlError, clone_xml
from labctl.backends.libvirt.domain_xml import BootFiles, domain_xml, interface_xml
from labctl.backends.libvirt.guest_time import clock_script, run_when_ready
from labctl.backends.libvirt.hostfiles import boot_files, overlay_on
from labctl.backends.libvirt.naming import serial_socket
from labctl.backends.libvirt.savefile import SaveFileError, clone_header, header_size, parse
from labctl.backends.libvirt.template import Template, TemplateError
from labctl.compile.plan import NodePlan
from labctl.errors import LabctlError
from labctl.images import ImageArtifacts

TEMPLATE_DOMAIN_PREFIX = "labctl-tpl-"  # not "labctl_": no lab's `down` ever matches it
AGENT_TIMEOUT = 600.0  # a template's one cold boot, to its agent
SETTLE_TIMEOUT = 300.0  # then until systemd has started every unit
FEED_TIMEOUT = 60.0  # libvirt opens the clone's header pipe within this
NIC_TIMEOUT = 30.0  # a hot-plugged NIC shows in the guest within this
RESEED = (
    'perl -e \'local $/; my $b = <STDIN>; open(my $f, ">", "/dev/urandom") or die; '
    "syswrite($f, $b) or die; ioctl($f, 0x5207, 0) or die'"  # RNDRESEEDCRNG
)


@cache
def _qemu_version() -> str:
    result = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True)
    return result.stdout.splitlines()[0] if result.returncode == 0 and result.stdout else "unknown"


def _cpu_identity(accel: str) -> str:
    """TCG emulates one CPU model everywhere; under KVM the host's CPU model and flags are saved state."""
    if accel != "kvm":
        return "maximum"
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    wanted = [line for line in lines if line.startswith(("model name", "flags"))][:2]
    return hashlib.sha256("\n".join(wanted).encode()).hexdigest()


def _image_identity(image: ImageArtifacts) -> dict[str, Any]:
    """The image's digest and recorded checksums, plus its disk's size and mtime: an image rebuilt
    or replaced in place gives a new key without hashing 500 MB on every `up`."""
    try:
        manifest = json.loads(image.manifest.read_text())
    except (OSError, ValueError):
        manifest = {}
    info = image.disk.stat()
    sums = {k: manifest.get(k) for k in ("qcow2_sha256", "kernel_sha256", "initrd_sha256")}
    return {"digest": image.digest, **sums, "disk_size": info.st_size, "disk_mtime_ns": info.st_mtime_ns}


def _template_node(node: NodePlan) -> NodePlan:
    return dataclasses.replace(node, name="template", interfaces=())


def key_parts(conn: libvirt.virConnect, image: ImageArtifacts, node: NodePlan, accel: str) -> dict[str, Any]:
    """Everything a template's saved state depends on (see template.template_key)."""
    xml = domain_xml(
        "template",
        "template",
        _template_node(node),
        BootFiles("kernel", "initrd", "disk", "console", "image", serial_socket="serial"),
        accel,
        run_as_root=False,
        spice_password="-",
    )
    return {
        "image": _image_identity(image),
        "qemu": _qemu_version(),
        "libvirt": conn.getLibVersion(),
        "accel": accel,
        "cpu": _cpu_identity(accel),
        "memory_mib": node.memory,
        "vcpus": node.vcpus,
        "domain_xml": hashlib.sha256(xml.encode()).hexdigest(),
    }


def ensure_template(uri: str, image: ImageArtifacts, node: NodePlan, accel: str, progress: Progress) -> Template:
    """The template for nodes like `node` (its image, memory and vCPUs), built now if missing: one
    cold boot, waited for until systemd is done, then saved. TemplateError when it cannot be."""
    conn = _open(uri)
    try:
        stop_stale_builders(conn, progress)
        parts = key_parts(conn, image, node, accel)
        key = templates.template_key(parts)
        with templates.building(key):
            found = templates.load(key)
            if found is not None:
                return found
            progress("", f"template {key[:12]}: booting it once ({node.memory} MiB, image {image.name})")
            start = time.monotonic()
            folder = templates.fresh_folder(key)
            try:
                _build(conn, image, node, accel, key, folder)
            except BaseException:
                templates.remove(folder)
                raise
            made = templates.finish(folder, key, parts, time.monotonic() - start)
            progress("", f"template {key[:12]}: saved after {time.monotonic() - start:.0f} s")
            return made
    finally:
        conn.close()


def stop_stale_builders(conn: libvirt.virConnect, progress: Progress) -> None:
    """Destroy the template domains no builder holds any more (a `labctl up` killed with SIGKILL
    while it built a template leaves its domain running: no lab's `down` sees it)."""
    for domain in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        name = domain.name()
        if name.startswith(TEMPLATE_DOMAIN_PREFIX) and templates.builder_gone(name[len(TEMPLATE_DOMAIN_PREFIX) :]):
            _destroy(conn, name)
            progress("", f"stopped {name}, left running by a template build that was killed")


def _build(conn: libvirt.virConnect, image: ImageArtifacts, node: NodePlan, accel: str, key: str, folder: Path) -> None:
    disk = folder / templates.DISK
    overlay_on(image.disk, disk)
    kernel, initrd, as_root = boot_files(image, folder, [disk], private=[templates.templates_root(), folder])
    socket = str(serial_socket(folder, "template"))
    boot = BootFiles(
        str(kernel), str(initrd), str(disk), str(folder / "console.log"), str(image.disk), serial_socket=socket
    )
    name = TEMPLATE_DOMAIN_PREFIX + key[:12]
    xml = domain_xml(
        "template", name, _template_node(node), boot, accel, run_as_root=as_root, spice_password=secrets.token_urlsafe()
    )
    _destroy(conn, name)  # a builder interrupted before
    try:
        domain = conn.createXML(xml, 0)
    except libvirt.libvirtError as exc:
        raise TemplateError(f"libvirt could not boot the template: {exc.get_error_message()}") from None
    try:
        agent = GuestAgent(domain, "template")
        watch = BootWatch(time.monotonic(), stall=AGENT_TIMEOUT, ceiling=AGENT_TIMEOUT)
        while not (domain.isActive() and agent.ping()):
            verdict = watch.observe(time.monotonic(), read_console(folder / "console.log"))
            if verdict.kind != "booting":  # a panic or a reset: say so now, not after the timeout
                raise TemplateError(f"the template did not boot: {verdict.reason}")
            cancel.sleep(0.5)
        # a clone should start with nothing left to do: every unit started, caches warm
        agent.exec(["/bin/systemctl", "is-system-running", "--wait"], timeout=SETTLE_TIMEOUT)
        partial = folder / f".{templates.STATE}.part"
        domain.save(str(partial))  # QEMU stops, flushes the disk, and exits
        os.replace(partial, folder / templates.STATE)
    except (libvirt.libvirtError, AgentError) as exc:
        message = exc.get_error_message() if isinstance(exc, libvirt.libvirtError) else str(exc)
        raise TemplateError(f"the template did not come up: {message}") from None
    finally:
        _destroy(conn, name)


def _wait(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TemplateError(f"{what} did not answer within {timeout:.0f} s")
        cancel.sleep(0.1)


def _destroy(conn: libvirt.virConnect, name: str) -> None:
    with contextlib.suppress(libvirt.libvirtError):
        conn.lookupByName(name).destroy()


def _open(uri: str) -> libvirt.virConnect:
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise LabctlError(f"libvirtd is not reachable at {uri}: {exc.get_error_message()}") from None


@dataclasses.dataclass(frozen=True)
class Clone:
    lab: str
    node: NodePlan
    domain: str
    overlay: Path
    console_log: Path
    serial_socket: Path
    spice_password: str


def restore(uri: str, template: Template, image: ImageArtifacts, clone: Clone) -> None:
    """Start `clone` from `template`: a fresh overlay over the template's disk, a header of its own in
    front of the template's saved state (through a pipe: nothing is copied), its NICs hot-plugged,
    then the clock set, a machine-id of its own and fresh entropy. TemplateError (the template is
    unusable) or LabctlError (this node failed) otherwise; the caller boots it cold instead."""
    folder = clone.overlay.parent
    overlay_on(template.disk, clone.overlay)
    try:
        with open(template.state, "rb") as saved:
            head = saved.read(65536)
            if len(head) < (size := header_size(head)):
                head += saved.read(size - len(head))
        domain_saved = parse(head)
    except (OSError, SaveFileError) as exc:
        raise TemplateError(f"its save file is unreadable: {exc}") from None
    kernel, initrd, as_root = boot_files(image, folder, [template.disk, clone.overlay], private=[folder.parent, folder])
    machine = uuid.uuid4()
    files = CloneFiles(
        name=clone.domain,
        uuid=str(machine),
        title=f"labctl {clone.lab}/{clone.node.name}",
        lab=clone.lab,
        node=clone.node.name,
        kernel=str(kernel),
        initrd=str(initrd),
        overlay=str(clone.overlay),
        template_disk=str(template.disk),
        image=str(image.disk),
        console_log=str(clone.console_log),
        serial_socket=str(clone.serial_socket),
        spice_password=clone.spice_password,
        run_as_root=as_root,
    )
    try:
        header = clone_header(clone_xml(domain_saved.xml, files), domain_saved.cookie)
    except (CloneXmlError, SaveFileError) as exc:
        raise TemplateError(f"its saved domain cannot be cloned: {exc}") from None
    conn = _open(uri)
    try:
        fifo = folder / f".{clone.node.name}.restore"
        _restore_through_pipe(conn, fifo, header, template.state, domain_saved.stream_offset)
        domain = conn.lookupByName(clone.domain)
        for iface in clone.node.interfaces:
            domain.attachDeviceFlags(interface_xml(clone.lab, clone.node.name, iface), libvirt.VIR_DOMAIN_AFFECT_LIVE)
        domain.resume()
        _identity(domain, clone.node, machine.hex)
    except libvirt.libvirtError as exc:
        raise LabctlError(f"restoring node '{clone.node.name}' failed: {exc.get_error_message()}") from None
    finally:
        conn.close()


def _restore_through_pipe(conn: libvirt.virConnect, fifo: Path, header: bytes, state: Path, offset: int) -> None:
    """libvirt reads the clone's header, then the template's QEMU stream, from a FIFO that a
    thread fills; a restore refused before libvirt opens the FIFO ends the thread too."""
    if fifo.exists() or fifo.is_symlink():
        fifo.unlink()
    os.mkfifo(fifo, 0o600)
    stop = threading.Event()
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            _feed(fifo, header, state, offset, stop)
        except BaseException as exc:  # reported by the restore's own error, or below
            failure.append(exc)

    writer = threading.Thread(target=feed, name=f"feed-{fifo.name}", daemon=True)
    writer.start()
    try:
        try:
            conn.restoreFlags(str(fifo), None, libvirt.VIR_DOMAIN_SAVE_PAUSED)
        except libvirt.libvirtError as exc:
            message = exc.get_error_message()
            if "QEMU" in message or "migration" in message.lower() or "load" in message.lower():
                raise TemplateError(f"QEMU could not load its saved state: {message}") from None
            raise
    finally:
        stop.set()
        writer.join(FEED_TIMEOUT)
        fifo.unlink(missing_ok=True)
    if failure and not isinstance(failure[0], BrokenPipeError):
        raise TemplateError(f"its save file could not be read: {failure[0]}")


def _feed(fifo: Path, header: bytes, state: Path, offset: int, stop: threading.Event) -> None:
    deadline = time.monotonic() + FEED_TIMEOUT
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or stop.is_set() or time.monotonic() > deadline:
                return  # no reader came: libvirt refused the restore before opening the file
            time.sleep(0.01)
    try:
        os.set_blocking(fd, True)
        view = memoryview(header)
        while view:
            view = view[os.write(fd, view) :]
        with open(state, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            position = offset
            while position < size:
                sent = os.sendfile(fd, source.fileno(), position, min(size - position, 2**30))
                if sent == 0:
                    break
                position += sent
    finally:
        os.close(fd)


MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def identity_script(machine_id: str, now: float, macs: Sequence[str] = ()) -> str:
    """One shell for a clone's clock (guest_time.clock_script), machine-id, entropy and NICs
    (pure; see _identity). Then it waits until every hot-plugged NIC is there and udev has
    handled it: renaming a NIC that udev is still setting up fails ("Device or resource busy")."""
    if not (len(machine_id) == 32 and all(c in "0123456789abcdef" for c in machine_id)):
        raise ValueError(f"not a machine-id: {machine_id!r}")
    for mac in macs:
        if not MAC.fullmatch(mac):
            raise ValueError(f"not a MAC address: {mac!r}")
    steps = (
        f"{clock_script(now)} && old=$(cat /etc/machine-id)"
        f" && printf '%s\\n' {machine_id} > /etc/machine-id && {RESEED}"
        # journald keeps its files under the template's id until the node reboots (restarting it
        # costs seconds under TCG): journalctl looks under the new one
        " && for d in /run/log/journal /var/log/journal;"
        f' do [ ! -d "$d/$old" ] || ln -sfn "$old" "$d/{machine_id}"; done'
    )
    if macs:
        steps += (
            f" && for m in {' '.join(macs)}; do n=0;"
            ' until cat /sys/class/net/*/address | grep -qx "$m"; do n=$((n + 1));'
            f" [ $n -le {int(NIC_TIMEOUT * 10)} ] ||"
            f' {{ echo "its NIC $m did not show within {NIC_TIMEOUT:.0f} s" >&2; exit 3; }};'
            " sleep 0.1; done; done && udevadm settle --timeout=30"
        )
    return steps


def _identity(domain: libvirt.virDomain, node: NodePlan, machine_id: str) -> None:
    """Clock, machine-id, entropy and NICs of the clone's own (one guest-exec)."""
    agent = GuestAgent(domain, node.name)
    macs = [i.mac.lower() for i in node.interfaces]

    def script() -> str:
        return identity_script(machine_id, time.time(), macs)

    result = run_when_ready(agent, script, NIC_TIMEOUT + 60, stdin=secrets.token_bytes(64))
    if not result.ok:
        raise LabctlError(f"node '{node.name}': {result.stderr.strip() or 'setting its identity failed'}")
