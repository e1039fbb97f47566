"""labctl.backends.netem and hostnet: the tc command line for netem and bridge aliases (nothing is run)."""

from __future__ import annotations

import pytest

from labctl.backends.libvirt.hostnet import bridge_alias
from labctl.backends.netem import netem_argv
from labctl.compile.plan import NetemPlan

TC_REPLACE = ["tc", "qdisc", "replace", "dev", "lt-1", "root", "netem"]


@pytest.mark.parametrize(
    ("netem", "tail"),
    [
        (NetemPlan(delay="40ms"), ["delay", "40ms"]),
        (NetemPlan(delay="40ms", jitter="5ms"), ["delay", "40ms", "5ms"]),
        (NetemPlan(loss="0.5%"), ["loss", "0.5%"]),
        (NetemPlan(delay="100ms", jitter="10ms", loss="1%"), ["delay", "100ms", "10ms", "loss", "1%"]),
        (NetemPlan(), []),
    ],
)
def test_netem_argv_spells_out_delay_jitter_and_loss(netem: NetemPlan, tail: list[str]) -> None:
    assert netem_argv("lt-1", netem) == TC_REPLACE + tail


def test_no_netem_removes_the_qdisc() -> None:
    assert netem_argv("lt-1", None) == ["tc", "qdisc", "del", "dev", "lt-1", "root"]


def test_bridge_alias_names_lab_and_segment() -> None:
    assert bridge_alias("ring", "r1--r2") == "labctl:ring:r1--r2"
