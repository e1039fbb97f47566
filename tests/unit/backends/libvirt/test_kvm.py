"""labctl.backends.libvirt.kvm: the KVM probe's verdicts, with the host faked (nothing boots)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labctl.backends.libvirt import kvm
from labctl.backends.libvirt.kvm import KvmVerdict, kvm_verdict, probe_kvm


def forbid(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"must not run anything: {args}")


@pytest.fixture
def no_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "run", forbid)
    monkeypatch.setattr(kvm, "probe_kernel", forbid)


@pytest.fixture
def dev_kvm(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host with a usable-looking /dev/kvm and qemu installed."""
    real_exists = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: True if p == "/dev/kvm" else real_exists(p))
    monkeypatch.setattr(os, "access", lambda p, mode: True)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")


def test_missing_dev_kvm_is_unusable_without_running_anything(
    monkeypatch: pytest.MonkeyPatch, no_commands: None
) -> None:
    monkeypatch.setattr(os.path, "exists", lambda p: False)
    assert probe_kvm(Path("/boot/vmlinuz")) == KvmVerdict(False, "/dev/kvm does not exist", 0.0)


def test_inaccessible_dev_kvm_is_unusable_without_running_anything(
    monkeypatch: pytest.MonkeyPatch, no_commands: None
) -> None:
    monkeypatch.setattr(os.path, "exists", lambda p: True)
    monkeypatch.setattr(os, "access", lambda p, mode: False)
    assert probe_kvm(Path("/boot/vmlinuz")) == KvmVerdict(False, "/dev/kvm is not accessible", 0.0)


def test_a_kernel_that_boots_and_exits_means_usable(monkeypatch: pytest.MonkeyPatch, dev_kvm: None) -> None:
    seen: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    verdict = probe_kvm(Path("/k/vmlinuz"), timeout=5)
    assert verdict.usable and verdict.reason.startswith("a guest kernel booted and exited")
    (argv,) = seen
    assert argv[0] == "/usr/bin/qemu-system-x86_64"
    assert argv[argv.index("-accel") + 1] == "kvm" and argv[argv.index("-kernel") + 1] == "/k/vmlinuz"


def test_a_hung_guest_means_unusable(monkeypatch: pytest.MonkeyPatch, dev_kvm: None) -> None:
    def run(argv: list[str], **kwargs: Any) -> Any:
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", run)
    verdict = probe_kvm(Path("/k/vmlinuz"), timeout=7)
    assert not verdict.usable and verdict.reason == "a guest kernel hung for 7 s under KVM"


def test_a_failing_qemu_means_unusable_with_its_message(monkeypatch: pytest.MonkeyPatch, dev_kvm: None) -> None:
    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            argv, 1, "", "qemu-system-x86_64: failed to initialize kvm:\n Permission denied\n"
        )

    monkeypatch.setattr(subprocess, "run", run)
    verdict = probe_kvm(Path("/k/vmlinuz"))
    assert not verdict.usable
    assert verdict.reason == "qemu -accel kvm failed: qemu-system-x86_64: failed to initialize kvm: Permission denied"


def test_a_long_qemu_message_keeps_its_end_and_says_it_was_cut(monkeypatch: pytest.MonkeyPatch, dev_kvm: None) -> None:
    message = "error: failed to set MSR 0x10a to 0x69 " * 10 + "Assertion failed."

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 134, "", message)

    monkeypatch.setattr(subprocess, "run", run)
    reason = probe_kvm(Path("/k/vmlinuz")).reason
    assert reason.startswith("qemu -accel kvm failed: ...") and reason.endswith("Assertion failed.")
    assert len(reason) == len("qemu -accel kvm failed: ...") + 160


def test_the_verdict_is_cached_per_host_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls: list[int] = []

    def probe() -> KvmVerdict:
        calls.append(1)
        return KvmVerdict(len(calls) == 1, f"probe {len(calls)}", 0.5)

    monkeypatch.setattr(kvm, "probe_kvm", probe)
    monkeypatch.setattr(platform, "release", lambda: "6.1.0-test")
    assert kvm_verdict() == KvmVerdict(True, "probe 1", 0.5)
    assert kvm_verdict() == KvmVerdict(True, "probe 1", 0.5)
    assert len(calls) == 1
    cached = json.loads((tmp_path / "labctl" / "kvm-probe.json").read_text())
    assert cached["host_kernel"] == "6.1.0-test"
    assert kvm_verdict(refresh=True) == KvmVerdict(False, "probe 2", 0.5)
    monkeypatch.setattr(platform, "release", lambda: "6.2.0-new")
    assert kvm_verdict() == KvmVerdict(False, "probe 3", 0.5)
    assert len(calls) == 3
