"""labctl.backends.libvirt.ksm: the kernel's same-page merging, read and started through sysfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labctl.backends.libvirt import ksm
from labctl.errors import LabctlError


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "ksm"
    root.mkdir()
    for name, value in (("run", 0), ("pages_shared", 10), ("pages_sharing", 250)):
        (root / name).write_text(f"{value}\n")
    return root


def test_the_saving_is_the_pages_sharing_a_merged_page(sysfs: Path) -> None:
    found = ksm.status(sysfs)
    assert found == ksm.Ksm(available=True, running=False, pages_shared=10, pages_sharing=250)
    assert found.saved_bytes == 250 * os.sysconf("SC_PAGE_SIZE") == found.to_dict()["saved_bytes"]


def test_starting_and_stopping_writes_run(sysfs: Path) -> None:
    assert ksm.set_running(True, sysfs).running and (sysfs / "run").read_text() == "1\n"
    assert not ksm.set_running(False, sysfs).running and (sysfs / "run").read_text() == "0\n"


def test_a_kernel_without_ksm_is_reported_and_refused_in_one_line(tmp_path: Path) -> None:
    assert ksm.status(tmp_path / "none") == ksm.Ksm(available=False, running=False)
    with pytest.raises(LabctlError, match=r"this kernel has no KSM \(.*none is missing; CONFIG_KSM\)$"):
        ksm.set_running(True, tmp_path / "none")


def test_a_run_file_that_cannot_be_written_is_one_line(sysfs: Path) -> None:
    (sysfs / "run").unlink()
    (sysfs / "run").symlink_to("/proc/version")  # refuses writes, even root's
    with pytest.raises(LabctlError, match=r"^cannot start KSM \(.*run: Input/output error\)$"):
        ksm.set_running(True, sysfs)


def test_garbage_counters_read_as_zero(sysfs: Path) -> None:
    (sysfs / "pages_sharing").write_text("lots\n")
    (sysfs / "pages_shared").unlink()
    assert (ksm.status(sysfs).pages_sharing, ksm.status(sysfs).pages_shared) == (0, 0)
