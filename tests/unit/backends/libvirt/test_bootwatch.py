"""The boot judge over serial-console snapshots: progress, stall, ceiling, panic, reset, and what failed."""

from __future__ import annotations

import pytest

from labctl.backends.libvirt.bootwatch import (
    BootWatch,
    boots,
    describe,
    panic_line,
    progress_text,
    unit_failures,
    waiting_for,
)

BANNER = (
    "Linux version 6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1\r\n"
)
WELCOME = "\r\nWelcome to \x1b[1mDebian GNU/Linux 12 (bookworm)\x1b[0m!\r\n\r\n"
OK = "[\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39msystemd-journald.service\x1b[0m - Journal Service.\r\n"
# systemd's spinner: the same line redrawn with \r and a new elapsed time every second
SPIN = "\r\x1b[K[\x1b[0;1;31m*     \x1b[0m] A start job is running for /dev/ttyS0 ({} / no limit)"
TIMED_OUT = (
    "[\x1b[0;1;39m TIME \x1b[0m] Timed out waiting for device \x1b[0;1;39mdev-ttyS0.device\x1b[0m - /dev/ttyS0.\r\n"
)
DEPEND = (
    "[\x1b[0;1;33mDEPEND\x1b[0m] Dependency failed for \x1b[0;1;39mserial-getty@ttyS0.service\x1b[0m"
    " - Serial Getty on ttyS0.\r\n"
)
FAILED = (
    "[\x1b[0;1;31mFAILED\x1b[0m] Failed to start \x1b[0;1;39msystemd-networkd.service\x1b[0m"
    " - Network Configuration.\r\nSee 'systemctl status systemd-networkd.service' for details.\r\n"
)
# the known TCG timer flake, as the issue quotes it
TIMER_PANIC = (
    "..MP-BIOS bug: 8254 timer not connected to IO-APIC\r\n"
    "Kernel panic - not syncing: IO-APIC + timer doesn't work!  Boot with apic=debug and send a report."
    "  Then try booting with the 'noapic' option.\r\n"
    "CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0-50-cloud-amd64 #1  Debian 6.1.176-1\r\n"
    "---[ end Kernel panic - not syncing: IO-APIC + timer doesn't work!  Boot with apic=debug ]---\r\n"
)
GARBAGE = "\x00\xff\x1b[999;999H\x1b[?2004h\r\r\r\x07binary\x1b[Z noise \ufffd\ufffd"


def test_console_that_keeps_advancing_is_booting_however_long_it_takes() -> None:
    watch = BootWatch(start=0, stall=60, ceiling=900)
    text = BANNER
    for t in range(0, 600, 30):  # 10 minutes, a new line every 30 s
        text += OK
        assert watch.observe(t, text).kind == "booting"


def test_no_progress_for_the_stall_window_is_stuck_and_names_what_failed() -> None:
    watch = BootWatch(start=0, stall=60, ceiling=900)
    text = BANNER + WELCOME + TIMED_OUT + DEPEND
    assert watch.observe(10, text).kind == "booting"
    assert watch.observe(70, text).kind == "booting"
    verdict = watch.observe(71, text)
    assert verdict.kind == "stuck" and not verdict.restartable
    assert "no console progress for 61 s" in verdict.reason
    assert "Timed out waiting for device dev-ttyS0.device - /dev/ttyS0" in verdict.reason
    assert "Dependency failed for serial-getty@ttyS0.service - Serial Getty on ttyS0" in verdict.reason


def test_the_spinner_alone_is_not_progress_but_is_reported() -> None:
    watch = BootWatch(start=0, stall=60, ceiling=900)
    text = BANNER + WELCOME
    watch.observe(0, text)
    for t in range(1, 62):
        text += SPIN.format(f"{t}s")
        verdict = watch.observe(t, text)
    assert verdict.kind == "stuck"
    assert "still waiting for /dev/ttyS0" in verdict.reason


def test_the_hard_ceiling_holds_even_while_the_console_advances() -> None:
    watch = BootWatch(start=100, stall=60, ceiling=300)
    text = BANNER
    for t in range(100, 400, 10):
        text += OK
        assert watch.observe(t, text).kind == "booting"
    text += FAILED
    verdict = watch.observe(401, text + OK)
    assert verdict.kind == "stuck"
    assert "still not ready after 300 s" in verdict.reason
    assert "Failed to start systemd-networkd.service - Network Configuration" in verdict.reason


def test_a_kernel_panic_is_seen_at_once_and_is_restartable() -> None:
    verdict = BootWatch(start=0, stall=60, ceiling=900).observe(5, BANNER + TIMER_PANIC)
    assert verdict.kind == "panic" and verdict.restartable
    assert "IO-APIC + timer doesn't work" in verdict.reason


def test_a_second_kernel_banner_is_a_reset() -> None:
    verdict = BootWatch(start=0, stall=60, ceiling=900).observe(30, BANNER + WELCOME + OK + BANNER)
    assert verdict.kind == "reset" and verdict.restartable


@pytest.mark.parametrize("text", ["", "\r\n\r\n", GARBAGE, "\x1b[K" * 50])
def test_empty_or_garbage_console_is_booting_until_the_stall_window_then_stuck(text: str) -> None:
    watch = BootWatch(start=0, stall=60, ceiling=900)
    assert watch.observe(1, text).kind == "booting"
    verdict = watch.observe(61.5, text)
    assert verdict.kind == "stuck"
    assert verdict.reason == "no console progress for 62 s" or verdict.reason.startswith("no console progress")


def test_garbage_growing_counts_as_progress_but_never_as_panic_or_reset() -> None:
    watch = BootWatch(start=0, stall=60, ceiling=900)
    text = ""
    for t in range(0, 300, 20):
        text += GARBAGE
        assert watch.observe(t, text).kind == "booting"


def test_helpers_on_real_lines() -> None:
    text = BANNER + WELCOME + OK + TIMED_OUT + DEPEND + FAILED + FAILED + SPIN.format("5s") + SPIN.format("6s")
    assert unit_failures(text) == [
        "Timed out waiting for device dev-ttyS0.device - /dev/ttyS0",
        "Dependency failed for serial-getty@ttyS0.service - Serial Getty on ttyS0",
        "Failed to start systemd-networkd.service - Network Configuration",
    ]
    assert waiting_for(text) == "/dev/ttyS0"
    assert describe(text).endswith("still waiting for /dev/ttyS0")
    assert "A start job" not in progress_text(text)
    assert boots(text) == 1
    assert panic_line(text) is None
    assert panic_line(TIMER_PANIC) == (
        "Kernel panic - not syncing: IO-APIC + timer doesn't work!  Boot with apic=debug and send a report."
        "  Then try booting with the 'noapic' option."
    )
    assert unit_failures("") == [] and waiting_for("") is None and describe(GARBAGE) == ""


def test_a_panic_line_loses_its_printk_timestamp() -> None:
    # the end of the console of a node booted with rdinit= and init= that do not exist (tests/integration)
    why = "VFS: Unable to mount root fs on unknown-block(0,0)"
    text = (
        f"[    3.900846] Kernel panic - not syncing: {why}\r\n"
        f"[    3.901281] ---[ end Kernel panic - not syncing: {why} ]---\r\n"
    )
    assert panic_line(text) == "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"


def test_the_kernel_command_line_skips_the_timer_check_and_keeps_the_console_talking() -> None:
    from labctl.backends.libvirt.domain_xml import KERNEL_CMDLINE

    args = KERNEL_CMDLINE.split()
    assert "no_timer_check" in args  # the TCG IO-APIC timer flake (bench/tcg_timer.py)
    assert "loglevel=6" in args and "quiet" not in args  # the kernel banner: one per boot, so a reset shows
    assert "systemd.show_status=true" in args  # a line per unit: progress while booting
