"""Libvirt domain XML for one node. Pure: plan and paths in, XML text out."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from labctl.backends.libvirt.naming import bridge_name, tap_name
from labctl.compile.plan import Interface, NodePlan

METADATA_NS = "https://labctl.dev/xmlns/node/1"
TCG_TB_CACHE_MIB = 64  # QEMU's default TB cache dominates RSS under TCG; see bench/results
# no_timer_check: under TCG on a busy host the kernel's IO-APIC timer check can miss its ticks and
#   panic ("IO-APIC + timer doesn't work!"); cloud images skip the check (bench/tcg_timer.py counts it).
# loglevel=6 and systemd.show_status=true: the console advances through the whole boot (the kernel
#   banner once per boot, then a line per unit), which is how `up` tells a slow boot from a stuck one
#   and sees a reset or a panic (labctl/backends/libvirt/bootwatch.py); status_unit_format=name keeps
#   a failed unit's name whole on an 80-column console.
KERNEL_CMDLINE = (
    "root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 no_timer_check"
    " loglevel=6 systemd.show_status=true systemd.status_unit_format=name"
)


@dataclass(frozen=True)
class BootFiles:
    kernel: str
    initrd: str
    overlay: str
    console_log: str
    backing: str = ""  # the overlay's backing image; labelled relabel='no' when QEMU is not root
    audio_file: str = ""  # a desktop with `sound: file`: the WAV its sound card plays into
    serial_socket: str = ""  # the login console's unix socket (ttyS1, for `labctl web`); none when ""


TCG_DESKTOP_HIDDEN = ("avx", "avx2", "fma", "f16c", "vaes")
"""CPU features a desktop does not see under TCG: with them, Mesa's llvmpipe (which draws the
Linphone GUI) JIT-compiles AVX code that QEMU 7.2's emulation runs wrong; the GUI crashed in 3
starts of 3 with them and in none without them."""


def tcg_cpu(node: NodePlan) -> str:
    if node.desktop is None:
        return "<cpu mode='maximum'/>"
    hidden = "".join(f"<feature policy='disable' name='{name}'/>" for name in TCG_DESKTOP_HIDDEN)
    return f"<cpu mode='maximum'>{hidden}</cpu>"


def desktop_xml(node: NodePlan, audio_file: str) -> str:
    """A desktop node's devices: an absolute pointer (virtio tablet), the SPICE agent's channel
    (spice-vdagent: resize, clipboard) and an ich9 sound card with speaker and microphone. Its
    sound goes to the SPICE client, or with `sound: file` into a WAV (no microphone then)."""
    if node.desktop is None:
        return ""
    if node.desktop.sound == "file" and not audio_file:
        raise ValueError(f"{node.name}: a desktop whose sound goes to a file needs the file's path")
    audio = (
        f"<audio id='1' type='file' path={quoteattr(audio_file)}/>"
        if node.desktop.sound == "file"
        else "<audio id='1' type='spice'/>"
    )
    return f"""
    <input type='tablet' bus='virtio'/>
    <channel type='spicevmc'>
      <target type='virtio' name='com.redhat.spice.0'/>
    </channel>
    <sound model='ich9'>
      <codec type='micro'/>
      <audio id='1'/>
    </sound>
    {audio}"""


def login_serial_xml(socket: str) -> str:
    """A second serial port (ttyS1, where the guest runs a getty) on a unix socket that QEMU listens
    on; the first one (ttyS0) stays the kernel's console and its log."""
    if not socket:
        return ""
    return f"""
    <serial type='unix'>
      <source mode='bind' path={quoteattr(socket)}/>
      <target port='1'/>
    </serial>"""


def interface_xml(lab: str, node: str, iface: Interface) -> str:
    """One NIC: in a cold boot's domain XML, or hot-plugged into a node restored from a template."""
    q = quoteattr
    return f"""    <interface type='bridge'>
      <source bridge={q(bridge_name(lab, iface.segment))}/>
      <target dev={q(tap_name(lab, node, iface.name))}/>
      <mac address={q(iface.mac)}/>
      <model type='virtio'/>
    </interface>"""


def domain_xml(
    lab: str, name: str, node: NodePlan, boot: BootFiles, accel: str, run_as_root: bool, spice_password: str
) -> str:
    """The XML holds the lab's SPICE password: hand it to libvirt only, never write it to a file."""
    if not spice_password:
        raise ValueError("every SPICE display needs a password")
    q = quoteattr
    kvm = accel == "kvm"
    features = "<acpi/><apic/>" + ("" if kvm else f"<tcg><tb-cache unit='MiB'>{TCG_TB_CACHE_MIB}</tb-cache></tcg>")
    cpu = "<cpu mode='host-passthrough'/>" if kvm else tcg_cpu(node)
    nics = "\n".join(interface_xml(lab, node.name, i) for i in node.interfaces)
    seclabel = "<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>" if run_as_root else ""
    # libvirt chowns the backing image to the QEMU user and never gives it back: it is shared and
    # readable by all (0644), so it keeps its owner
    backing = (
        f"""
      <backingStore type='file'>
        <format type='qcow2'/>
        <source file={q(boot.backing)}><seclabel model='dac' relabel='no'/></source>
        <backingStore/>
      </backingStore>"""
        if boot.backing and not run_as_root
        else ""
    )
    return f"""<domain type={q("kvm" if kvm else "qemu")}>
  <name>{escape(name)}</name>
  <title>labctl {escape(lab)}/{escape(node.name)}</title>
  <metadata>
    <labctl:node xmlns:labctl={q(METADATA_NS)} lab={q(lab)} node={q(node.name)}/>
  </metadata>
  <memory unit='MiB'>{node.memory}</memory>
  <vcpu>{node.vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(boot.kernel)}</kernel>
    <initrd>{escape(boot.initrd)}</initrd>
    <cmdline>{KERNEL_CMDLINE}</cmdline>
  </os>
  <features>{features}</features>
  {cpu}
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file={q(boot.overlay)}/>{backing}
      <target dev='vda' bus='virtio'/>
    </disk>
{nics}
    <serial type='pty'>
      <log file={q(boot.console_log)} append='on'/>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>{login_serial_xml(boot.serial_socket)}
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <graphics type='spice' autoport='yes' listen='127.0.0.1' passwd={q(spice_password)}>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <video><model type='virtio' heads='1'/></video>{desktop_xml(node, boot.audio_file)}
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='virtio' freePageReporting='on'/>
  </devices>
  {seclabel}
</domain>
"""
