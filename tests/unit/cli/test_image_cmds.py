"""`labctl image list`: the FreeSWITCH source commits an image manifest records, in the table
(short) and in --json (full), and none for an image without FreeSWITCH."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.cli.conftest import Cli

SOURCES = [("spandsp", "a" * 40), ("sofia-sip", "b" * 40), ("freeswitch", "c" * 40)]


def cached_image(root: Path, digest: str, freeswitch: dict[str, object]) -> None:
    folder = root / "cache" / "labctl" / "images" / f"lab-{digest}"
    folder.mkdir(parents=True)
    manifest = {"name": "lab", "input_digest": digest, "built": "2026-11-28", "freeswitch": freeswitch}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_image_list_shows_the_freeswitch_source_commits(cli: Cli, tmp_path: Path) -> None:
    sources = [{"name": name, "git": "https://example.invalid/x.git", "commit": commit} for name, commit in SOURCES]
    cached_image(tmp_path, "111111111111", {"included": True, "source": "source", "sources": sources})
    cached_image(tmp_path, "222222222222", {"included": False})
    data = cli("image", "list", "--json")
    assert data.code == 0, data.stderr
    listed = {d["digest"]: d["freeswitch"] for d in json.loads(data.stdout)}
    assert listed == {"111111111111": [f"{name} {commit}" for name, commit in SOURCES], "222222222222": []}
    table = cli("image", "list")
    assert table.code == 0, table.stderr
    short = ", ".join(f"{name} {commit[:12]}" for name, commit in SOURCES)
    assert f"lab 111111111111: FreeSWITCH built from {short}\n" in table.stdout
    assert "222222222222:" not in table.stdout
