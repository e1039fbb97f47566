"""The hostile renders of test_hostile.py, read by the programs that read them in a lab: slapadd and
slapcat (OpenLDAP), named-checkconf and named-checkzone (bind9), bird -p and kamailio -c.

Opt-in, because it needs those programs: with LABCTL_REAL_TOOLS=1 they are extracted (dpkg-deb -x,
nothing is installed) from the .debs the image build keeps in <cache>/apt-archives, and the tests
fail if a package is missing there. Without it, the tests are skipped.

    LABCTL_REAL_TOOLS=1 .venv/bin/pytest tests/unit/render/test_real_tools.py
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.paths import cache_dir
from labctl.render.render import RenderError, RoleStep, context, render_step
from tests.unit.render import formats
from tests.unit.render.golden import REPO, SECRETS, plan_of, recipes_for
from tests.unit.render.test_hostile import HOSTILE, TARGETS, Target, normal_render, render_hostile, substitution

PACKAGES = [
    "slapd", "libldap-2.5-0", "libwrap0", "bind9", "bind9-utils", "bind9-libs", "libjemalloc2",
    "libmaxminddb0", "libfstrm0", "libprotobuf-c1", "liblmdb0", "bird2", "libssh-gcrypt-4", "kamailio",
    "kamailio-ldap-modules",
]  # fmt: skip


class Tools:
    def __init__(self, root: Path) -> None:
        self.root = root
        lib = root / "usr/lib/x86_64-linux-gnu"
        self.env = {**os.environ, "LD_LIBRARY_PATH": f"{lib}:{root}/lib/x86_64-linux-gnu:{lib}/kamailio"}

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        program = next(p for p in (self.root / "usr/sbin" / argv[0], self.root / "usr/bin" / argv[0]) if p.exists())
        return subprocess.run(
            [str(program), *argv[1:]], capture_output=True, text=True, env=self.env, errors="replace", timeout=60
        )


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tools]:
    if os.environ.get("LABCTL_REAL_TOOLS") != "1":
        pytest.skip("set LABCTL_REAL_TOOLS=1 to read hostile renders with slapd, bind9, bird and kamailio")
    archives = cache_dir() / "apt-archives"
    root = tmp_path_factory.mktemp("real-tools")
    for package in PACKAGES:
        debs = sorted(archives.glob(f"{package}_*.deb"))
        assert debs, f"{package}: no .deb in {archives} (build the default image first)"
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True)
    yield Tools(root)


def hostile_steps(target: Target, hostile: str, role: str) -> Iterator[tuple[str, RoleStep | None]]:
    """(node as named in the normal plan, its step for `role`, or None when refused at render)."""
    plan, secrets, sub = render_hostile(target, hostile)
    recipes = recipes_for(plan_of(REPO / "topologies" / f"{target.topology}.yaml"))
    names = {sub(name): name for name in normal_render(target.topology)}
    for node in plan.nodes:
        if role in node.roles:
            try:
                yield names[node.name], render_step(recipes[role], context(plan, node, secrets))
            except RenderError:
                yield names[node.name], None


def file_of(step: RoleStep, path: str) -> str:
    return next(f.content for f in step.files if f.path == path or re.fullmatch(path, f.path))


def slapcat(tools: Tools, step: RoleStep, work: Path) -> str:
    root = tools.root
    work.mkdir()
    (work / "slapd.d").mkdir()
    (work / "db").mkdir()
    config = file_of(step, "/etc/labctl/ldap/config.ldif")
    config = config.replace("file:///etc/ldap/schema", f"file://{root}/etc/ldap/schema")
    config = config.replace("olcModulePath: /usr/lib/ldap", f"olcModulePath: {root}/usr/lib/ldap")
    config = config.replace("olcDbDirectory: /var/lib/labctl-ldap/db", f"olcDbDirectory: {work}/db")
    (work / "config.ldif").write_text(config)
    (work / "data.ldif").write_text(file_of(step, "/etc/labctl/ldap/data.ldif"))
    for db, ldif in (("0", "config.ldif"), ("1", "data.ldif")):
        added = tools.run("slapadd", "-q", f"-n{db}", "-F", str(work / "slapd.d"), "-l", str(work / ldif))
        assert added.returncode == 0, f"slapadd -n{db}: {added.stderr[-500:]}"
    dumped = tools.run("slapcat", "-n1", "-F", str(work / "slapd.d"), "-o", "ldif-wrap=no")
    assert dumped.returncode == 0, dumped.stderr
    return dumped.stdout


@pytest.mark.parametrize("label", ["sip-password", "sip-user-and-node", "sip-extension", "sip-domain-label"])
def test_slapd_stores_exactly_the_subscribers_whatever_their_values(tools: Tools, label: str, tmp_path: Path) -> None:
    target = next(t for t in TARGETS if t.topology == "voip-demo" and t.label == label)
    accounts = plan_of(REPO / "topologies" / "voip-demo.yaml").sip.accounts  # type: ignore[union-attr]
    read_back = 0
    for i, hostile in enumerate(HOSTILE):
        sub = substitution(target.token, hostile)
        for _, step in hostile_steps(target, hostile, "ldap"):
            if step is None:
                assert "ldap" not in target.never_refused
                continue
            records = formats.ldif_records(slapcat(tools, step, tmp_path / f"h{i}"))
            people = [dict(r) for r in records if ("objectclass", "inetOrgPerson") in r]
            got = sorted((p["uid"], p["userpassword"], p["telephonenumber"]) for p in people)
            assert got == sorted((sub(a.user), sub(a.password), sub(a.extension)) for a in accounts), hostile
            assert len(records) == 3 + len(accounts)
            read_back += 1
    assert read_back >= (len(HOSTILE) if label == "sip-password" else 5)


def test_bind_bird_and_kamailio_accept_every_render_and_read_it_as_meant(tools: Tools, tmp_path: Path) -> None:
    counts: dict[tuple[str, str], int] = {}
    checked = 0
    for target in [None, *TARGETS]:
        for i, hostile in enumerate(HOSTILE if target else [""]):
            for role in ("dns", "router", "kamailio"):
                steps: list[tuple[str, str, RoleStep | None]]
                if target is None:
                    topologies = ["voip-demo", "ospf-dns", "line"]
                    steps = [(t, n, s[role]) for t in topologies for n, s in normal_render(t).items() if role in s]
                else:
                    steps = [(target.topology, n, s) for n, s in hostile_steps(target, hostile, role)]
                for topology, node, step in steps:
                    if step is None:
                        continue
                    work = tmp_path / f"{target.label if target else 'normal'}-{i}-{topology}-{node}-{role}"
                    work.mkdir()
                    plan, _, sub = render_hostile(target, hostile) if target else (None, None, None)
                    if role == "dns":
                        conf = work / "named.conf"
                        conf.write_text(file_of(step, "/etc/bind/named.conf.local"))
                        checked_conf = tools.run("named-checkconf", str(conf))
                        assert checked_conf.returncode == 0, checked_conf.stdout
                        zone_file = work / "db"
                        zone_file.write_text(file_of(step, r"/etc/bind/db\..*"))
                        zone = (plan or plan_of(REPO / "topologies" / f"{topology}.yaml")).dns.zone
                        loaded = tools.run(
                            "named-checkzone", "-k", "ignore", "-D", "-o", "-", "--", zone, str(zone_file)
                        )
                        assert loaded.returncode == 0, loaded.stdout
                        records = len([line for line in loaded.stdout.splitlines() if re.search(r"\sIN\s", line)])
                        assert counts.setdefault((topology, node), records) == records, (target, hostile)
                    elif role == "router":
                        conf = work / "bird.conf"
                        conf.write_text(file_of(step, "/etc/bird/bird.conf"))
                        parsed = tools.run("bird", "-p", "-c", str(conf))
                        assert parsed.returncode == 0, parsed.stderr
                    else:
                        modules = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
                        (work / "ldap.cfg").write_text(file_of(step, "/etc/kamailio/ldap.cfg"))
                        cfg = file_of(step, "/etc/kamailio/kamailio.cfg").replace(modules, f"{tools.root}{modules}")
                        (work / "kamailio.cfg").write_text(
                            cfg.replace("/etc/kamailio/ldap.cfg", str(work / "ldap.cfg"))
                        )
                        parsed = tools.run("kamailio", "-c", "-f", str(work / "kamailio.cfg"))
                        assert parsed.returncode == 0, parsed.stderr[-800:]
                        lab = plan or plan_of(REPO / "topologies" / f"{topology}.yaml")
                        assert lab.sip is not None
                        aliases = set(re.findall(r"\*: (.*):\*", parsed.stdout + parsed.stderr))
                        fqdn = next(n.fqdn for n in lab.nodes if (sub(node) if sub else node) == n.name)
                        assert aliases == {lab.sip.domain, fqdn}, (target, hostile)
                    checked += 1
    assert checked > 1000
    assert SECRETS  # the same secrets as the golden renders
