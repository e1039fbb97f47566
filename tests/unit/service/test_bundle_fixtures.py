"""Every bundle format ever written stays readable: the fixture of each version is verified,
shown, unpacked, and its sources still validate, compile and render with this labctl."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.bundle import BUNDLE_FORMAT, extract_bundle, verify_bundle
from labctl.compile import compile_topology
from labctl.demo.checks import check_types
from labctl.demo.spec import load_demo, validate_demo
from labctl.lab.configure import placeholder_secrets
from labctl.paths import data_home
from labctl.render.lab import render_plan
from labctl.service import bundles
from labctl.topology.schema import load_topology

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bundle"


RECORDS = [(version, f"v{version}.labctl") for version in range(1, BUNDLE_FORMAT + 1)] + [
    (1, "v1-with-verdicts.labctl")
]


@pytest.mark.parametrize(("version", "name"), RECORDS)
def test_a_bundle_of_every_format_still_verifies_and_its_lab_still_compiles(
    version: int, name: str, tmp_path: Path
) -> None:
    bundle = FIXTURES / name
    index = verify_bundle(bundle)
    assert index.format == version
    shown = bundles.show(bundle)
    assert shown["lab"] == "ospf-dns" and shown["demo"]
    dest = tmp_path / "unpacked"
    extract_bundle(bundle, dest)
    with data_home(dest):  # its own recipes, not this installation's
        plan = compile_topology(load_topology(dest / str(shown["topology"])))
        validate_demo(load_demo(str(dest / str(shown["demo"])), check_types()), plan)
        rendered = render_plan(plan, placeholder_secrets(plan))
    assert {n.name for n in plan.nodes} == set(rendered.nodes)


def test_a_format_1_bundle_is_read_as_one_without_disks() -> None:
    index = verify_bundle(FIXTURES / "v1.labctl")
    assert (index.format, index.data["format"]) == (1, BUNDLE_FORMAT)  # as written, and brought up to date
    assert index.data["disks"] == [] and index.data["secrets"] is None
