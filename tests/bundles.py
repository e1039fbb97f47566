"""A bundle written again with some of bundle.json's fields changed, and valid checksums: how the
tests make a bundle that verifies but says something else (a doctored verdict, a hostile list)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labctl.bundle import extract_bundle, read_index, write_bundle

OWN_FILES = ("bundle.json", "manifest-sha256.txt")


def rewritten(source: Path, dest: Path, work: Path, **changes: Any) -> Path:
    unpacked = work / f"unpacked-{dest.stem}"
    extract_bundle(source, unpacked)
    index = {k: v for k, v in read_index(source).data.items() if k not in ("contents", "format")}
    members = {str(p.relative_to(unpacked)): p for p in unpacked.rglob("*") if p.is_file() and p.name not in OWN_FILES}
    write_bundle(dest, {**index, **changes}, members)
    return dest
