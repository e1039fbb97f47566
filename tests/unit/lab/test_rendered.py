"""labctl.lab.rendered: a rendered lab written to disk and read back, checked like hostile input."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.lab.configure import secret_names
from labctl.lab.rendered import (
    LAB_FILE,
    RENDERED_DIR,
    RENDERED_FORMAT,
    STEPS_FILE,
    read_rendered,
    render_to_folder,
    save_rendered,
    write_rendered,
)
from labctl.render.lab import RenderedLab, render_plan
from labctl.render.recipe import ReadyProbe
from labctl.render.render import RenderedFile, RoleStep
from labctl.state import LabState, lab_folder, lab_secrets
from tests.unit.render.golden import REPO, SECRETS, plan_of

FIXTURE = REPO / "tests" / "fixtures" / "rendered" / f"v{RENDERED_FORMAT}"
VOIP = REPO / "topologies" / "voip-demo.yaml"


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture(scope="module")
def voip() -> RenderedLab:
    return render_plan(plan_of(VOIP), SECRETS)


def test_voip_demo_is_written_at_guest_paths_and_read_back_unchanged(tmp_path: Path, voip: RenderedLab) -> None:
    out = tmp_path / "out"
    counts = write_rendered(out, voip)
    assert set(counts) == set(voip.nodes) and all(counts.values())
    for node, steps in voip.nodes.items():
        for step in steps:
            for f in step.files:
                assert (out / node / "files" / f.path.lstrip("/")).read_text() == f.content
        manifest = json.loads((out / node / STEPS_FILE).read_text())
        assert manifest["format"] == RENDERED_FORMAT
        assert [r["role"] for r in manifest["roles"]] == [s.role for s in steps]
    assert read_rendered(out) == voip


def test_every_file_is_0600_and_every_folder_0700(tmp_path: Path, voip: RenderedLab) -> None:
    out = tmp_path / "out"
    write_rendered(out, voip)
    for path in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_the_v1_fixture_loads() -> None:
    lab = read_rendered(FIXTURE)
    assert lab == RenderedLab(
        lab="tiny",
        waves=(("base",), ("host",)),
        nodes={
            "n1": (
                RoleStep(
                    role="base",
                    files=(RenderedFile("/etc/hostname", "n1\n", "0644", "root:root"),),
                    commands=("hostname n1",),
                    ready=ReadyProbe("test -s /etc/hostname", 30, 1.0),
                    skip_when=None,
                ),
                RoleStep(role="host", files=(), commands=(), ready=None, skip_when="test -e /done"),
            )
        },
    )


def copy_fixture(tmp_path: Path) -> Path:
    folder = tmp_path / "fixture"
    shutil.copytree(FIXTURE, folder)
    return folder


def edit_manifest(folder: Path, change: dict[str, object], role: int | None = None) -> None:
    path = folder / "n1" / STEPS_FILE
    data = json.loads(path.read_text())
    (data if role is None else data["roles"][role]).update(change)
    path.write_text(json.dumps(data))


def test_a_newer_format_is_refused_and_a_missing_one_is_damage(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    edit_manifest(folder, {"format": RENDERED_FORMAT + 1})
    with pytest.raises(LabctlError, match="written by a newer labctl"):
        read_rendered(folder)
    edit_manifest(folder, {"format": None})
    with pytest.raises(LabctlError, match="is damaged: no valid format version"):
        read_rendered(folder)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"files": [{"path": "../../../etc/passwd", "mode": "0644", "owner": "root:root"}]}, "not absolute"),
        ({"files": [{"path": "/etc/../../../x", "mode": "0644", "owner": "root:root"}]}, r"'\.\.'"),
        ({"files": [{"path": "/etc/hostname", "mode": 420, "owner": "root:root"}]}, "mode is not a str"),
        ({"commands": "rm -rf /"}, "commands is not a list"),
        ({"wave": 1}, "not in wave 1"),
        ({"ready": {"command": "x", "timeout": "soon", "interval": 1}}, "timeout"),
    ],
)
def test_a_hostile_manifest_is_refused(tmp_path: Path, change: dict[str, object], why: str) -> None:
    folder = copy_fixture(tmp_path)
    edit_manifest(folder, change, role=0)
    with pytest.raises(LabctlError, match=f"is damaged: .*{why}"):
        read_rendered(folder)


def test_a_symbolic_link_in_a_read_path_is_not_followed(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "hostname").write_text("secret\n")
    shutil.rmtree(folder / "n1" / "files" / "etc")
    (folder / "n1" / "files" / "etc").symlink_to(outside)
    with pytest.raises(LabctlError, match=r"cannot read .*etc/hostname"):
        read_rendered(folder)


def test_a_fifo_in_place_of_a_file_is_refused_without_blocking(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    (folder / "n1" / "files" / "etc" / "hostname").unlink()
    os.mkfifo(folder / "n1" / "files" / "etc" / "hostname")
    with pytest.raises(LabctlError, match="not a regular file"):
        read_rendered(folder)


def test_writing_never_follows_a_planted_link(tmp_path: Path) -> None:
    lab = read_rendered(FIXTURE)
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (out / "n1" / "files").mkdir(parents=True)
    (out / "n1" / "files" / "etc").symlink_to(outside)  # a folder on the way
    with pytest.raises(LabctlError, match=r"cannot write .*n1/files/etc/hostname"):
        write_rendered(out, lab)
    assert list(outside.iterdir()) == []
    (out / "n1" / "files" / "etc").unlink()
    (out / "n1" / "files" / "etc").mkdir()
    (outside / "target").write_text("keep\n")
    (out / "n1" / "files" / "etc" / "hostname").symlink_to(outside / "target")  # the file itself
    write_rendered(out, lab)
    assert (outside / "target").read_text() == "keep\n"
    assert not (out / "n1" / "files" / "etc" / "hostname").is_symlink()


def test_save_rendered_replaces_the_lab_folder_copy_whole(tmp_path: Path, voip: RenderedLab) -> None:
    folder = tmp_path / "lab"
    folder.mkdir()
    save_rendered(folder, voip)
    (folder / RENDERED_DIR / "stale").write_text("old\n")
    save_rendered(folder, read_rendered(FIXTURE))
    assert sorted(p.name for p in (folder / RENDERED_DIR).iterdir()) == [LAB_FILE, "n1"]
    assert sorted(p.name for p in folder.iterdir()) == [RENDERED_DIR]  # nothing left aside


# -- labctl render -o DIR ----------------------------------------------------------------------------
def test_render_to_folder_uses_placeholders_without_a_running_lab(tmp_path: Path) -> None:
    summary = render_to_folder(plan_of(VOIP), tmp_path / "out")
    assert summary.placeholders == secret_names(plan_of(VOIP))
    ldap = "".join(p.read_text() for p in (tmp_path / "out").rglob("*.ldif"))
    assert "placeholder-ldap_admin" in ldap or "cGxhY2Vob2xkZXItbGRhcF9hZG1pb" in ldap  # plain or base64
    assert summary.to_dict()["files"] == sum(summary.files.values()) > 0


def test_render_to_folder_uses_the_running_labs_secrets(tmp_path: Path) -> None:
    plan = plan_of(VOIP)
    LabState(lab=plan.lab, backend="fake", topology=str(VOIP), plan=plan.to_dict()).save()
    stored = lab_secrets(plan.lab, secret_names(plan))
    summary = render_to_folder(plan, tmp_path / "out")
    assert summary.placeholders == ()
    assert (
        stored["ldap_reader"]
        in (tmp_path / "out" / "infra" / "files" / "etc" / "labctl" / "ldap" / "reader.pw").read_text()
    )
    assert lab_folder(plan.lab).is_dir()


def test_render_to_folder_refuses_a_full_folder_and_with_force_deletes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine").write_text("keep\n")
    with pytest.raises(LabctlError, match="exists and is not empty; --force"):
        render_to_folder(plan_of(VOIP), out)
    assert sorted(p.name for p in out.iterdir()) == ["mine"]
    render_to_folder(plan_of(VOIP), out, force=True)
    assert (out / "mine").read_text() == "keep\n"
    render_to_folder(plan_of(VOIP), out, force=True)  # again: overwrites its own files
    (tmp_path / "file").write_text("")
    with pytest.raises(LabctlError, match="is not a folder"):
        render_to_folder(plan_of(VOIP), tmp_path / "file", force=True)
