"""labctl.lab.step_script: a role step as one shell run. The scripts run here for real, with /bin/sh,
GNU tar and `timeout`, under a temporary folder standing for the node's root."""

from __future__ import annotations

import grp
import io
import os
import pwd
import subprocess
import tarfile
from pathlib import Path

import pytest

from labctl.backends.base import ExecResult, FileSpec
from labctl.lab.step_script import FILES, SKIP, files_archive, outcome, step_run
from labctl.render.recipe import ReadyProbe
from labctl.render.render import RenderedFile, RoleStep

NONCE = "0123456789abcdef"
ME = f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"
HOSTILE = '/etc/it\'s a "name" $(touch pwned) `x`; *.conf'


def step(
    files: tuple[RenderedFile, ...] = (),
    commands: tuple[str, ...] = (),
    ready: ReadyProbe | None = None,
    skip_when: str | None = None,
) -> RoleStep:
    return RoleStep("toy", files, commands, ready, skip_when)


def run(root: Path, the_step: RoleStep) -> ExecResult:
    plan = step_run(the_step, NONCE, 20, root=str(root))
    done = subprocess.run(
        ["/bin/sh", "-c", plan.script], input=plan.stdin or b"", capture_output=True, cwd=root, timeout=60
    )
    return ExecResult(done.returncode, done.stdout.decode(), done.stderr.decode())


def test_files_land_with_their_modes_and_owners_and_hostile_names_stay_names(tmp_path: Path) -> None:
    files = (
        RenderedFile(HOSTILE, "quoted\n", "0600", ME),
        RenderedFile("/usr/local/sbin/tool", "#!/bin/sh\n", "0755", ME),
        RenderedFile("/top", "at the root\n", "0644", ME),
    )
    result = run(tmp_path, step(files, commands=(f"cat {tmp_path}/usr/local/sbin/tool",)))
    assert outcome(result, NONCE).kind == "done", result
    assert (tmp_path / HOSTILE[1:]).read_text() == "quoted\n"
    assert (tmp_path / HOSTILE[1:]).stat().st_mode & 0o7777 == 0o600
    assert (tmp_path / "usr/local/sbin/tool").stat().st_mode & 0o7777 == 0o755
    assert (tmp_path / "top").read_text() == "at the root\n"
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_a_symlink_at_a_files_path_is_replaced_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("untouched\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").symlink_to(outside)  # an absolute link out of the node's tree
    result = run(root, step((RenderedFile("/etc/passwd", "lab\n", "0644", ME),)))
    assert outcome(result, NONCE).kind == "done", result
    assert outside.read_text() == "untouched\n"
    assert not (root / "etc" / "passwd").is_symlink()
    assert (root / "etc" / "passwd").read_text() == "lab\n"


def test_the_failing_command_is_named_with_its_exit_code_and_its_own_output(tmp_path: Path) -> None:
    marker = tmp_path / "third-ran"
    commands = ("echo first-out; echo first-err >&2", "echo second-out; echo second-err >&2; exit 3", f"touch {marker}")
    result = run(tmp_path, step(commands=commands))
    done = outcome(result, NONCE)
    assert (done.kind, done.part, done.exit_code, done.detail) == ("failed", "1", 3, "second-err")
    assert result.exit_code == 3
    assert not marker.exists()


def test_commands_read_no_stdin_of_the_archive(tmp_path: Path) -> None:
    result = run(tmp_path, step((RenderedFile("/f", "x\n", "0644", ME),), commands=('test -z "$(cat)"',)))
    assert outcome(result, NONCE).kind == "done", result


def test_a_file_that_cannot_be_owned_fails_the_files_part(tmp_path: Path) -> None:
    result = run(tmp_path, step((RenderedFile("/f", "x\n", "0644", "no-such-user-labctl:root"),), commands=("true",)))
    done = outcome(result, NONCE)
    assert (done.kind, done.part) == ("failed", FILES)
    assert "no-such-user-labctl" in done.detail


def test_skip_when_holding_skips_files_and_commands(tmp_path: Path) -> None:
    the_step = step((RenderedFile("/f", "x\n", "0644", ME),), commands=("exit 9",), skip_when="echo already done")
    done = outcome(run(tmp_path, the_step), NONCE)
    assert (done.kind, done.part, done.detail) == ("skipped", SKIP, "already done")
    assert not (tmp_path / "f").exists()


def test_skip_when_failing_runs_the_step(tmp_path: Path) -> None:
    the_step = step((RenderedFile("/f", "x\n", "0644", ME),), skip_when="false")
    assert outcome(run(tmp_path, the_step), NONCE).kind == "done"
    assert (tmp_path / "f").exists()


@pytest.mark.parametrize(("probe", "ready"), [("true", True), ("exit 1", False)])
def test_the_first_look_at_the_readiness_probe_is_reported(tmp_path: Path, probe: str, ready: bool) -> None:
    done = outcome(run(tmp_path, step(ready=ReadyProbe(probe, timeout=5))), NONCE)
    assert (done.kind, done.ready) == ("done", ready)


def test_a_script_stopped_before_its_end_is_broken() -> None:
    cut = ExecResult(137, f"\n@@labctl:{NONCE}:0\npartial\n", "Killed\n")
    done = outcome(cut, NONCE)
    assert (done.kind, done.exit_code, done.detail) == ("broken", 137, "Killed")


@pytest.mark.parametrize(
    "path",
    ["relative/x", "/etc/../x", "/etc/./x", "/etc//x", "/etc/x/", "/etc/new\nline", "/.."],
)
def test_hostile_paths_are_refused_before_anything_is_built(path: str) -> None:
    with pytest.raises(ValueError, match="refusing the file path"):
        step_run(step((RenderedFile(path, "x", "0644", "root:root"),)), NONCE, 20)


@pytest.mark.parametrize(
    ("mode", "owner"), [("0644; reboot", "root:root"), ("0644", "root:root; reboot"), ("rw", "root")]
)
def test_modes_and_owners_that_are_not_plain_are_refused(mode: str, owner: str) -> None:
    with pytest.raises(ValueError, match=r"refusing the (mode|owner)"):
        step_run(step((RenderedFile("/etc/x", "x", mode, owner),)), NONCE, 20)


def test_the_archive_holds_regular_files_only_named_relative_the_last_of_one_path_winning() -> None:
    archive = files_archive(
        [FileSpec("/etc/a", b"old"), FileSpec("/etc/b", b"b", "0600", "bird:bird"), FileSpec("/etc/a", b"new")]
    )
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        members = tar.getmembers()
        assert [(m.name, m.type, m.mode, m.uname, m.gname) for m in members] == [
            ("etc/a", tarfile.REGTYPE, 0o644, "root", "root"),
            ("etc/b", tarfile.REGTYPE, 0o600, "bird", "bird"),
        ]
        assert tar.extractfile(members[0]).read() == b"new"  # type: ignore[union-attr]


def test_exit_or_cd_in_one_command_stays_in_it(tmp_path: Path) -> None:
    result = run(tmp_path, step(commands=("cd /; exit 0", "touch ran-here")))
    assert outcome(result, NONCE).kind == "done", result
    assert (tmp_path / "ran-here").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_file_owned_by_another_user_keeps_its_set_id_mode(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    result = run(tmp_path, step((RenderedFile("/bin/tool", "x\n", "4750", f"nobody:{group}"),)))
    assert outcome(result, NONCE).kind == "done", result
    stat = (tmp_path / "bin" / "tool").stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777) == (nobody.pw_uid, nobody.pw_gid, 0o4750)
