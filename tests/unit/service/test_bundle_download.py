"""`labctl replay URL`: the bundle is downloaded from an http(s) server (here one on 127.0.0.1)
into a private temporary file of the state folder, which is gone afterwards, whatever happened."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.service import bundles
from labctl.service.events import Quiet

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "bundle" / "v1.labctl"


class Steps(Quiet):
    def __init__(self) -> None:
        self.steps: list[str] = []

    def step(self, text: str) -> None:
        self.steps.append(text)


class Quietly(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    served = tmp_path / "www"
    served.mkdir()
    (served / "v1.labctl").write_bytes(FIXTURE.read_bytes())
    handler = functools.partial(Quietly, directory=str(served))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def state_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "state").rglob("*"))


def test_a_bundle_is_downloaded_whole_with_progress_and_the_copy_removed(server: str, tmp_path: Path) -> None:
    listener = Steps()
    with bundles.downloaded(f"{server}/v1.labctl", listener) as path:
        assert path.read_bytes() == FIXTURE.read_bytes()
        assert path.parent == tmp_path / "state" / "labctl" and (path.stat().st_mode & 0o777) == 0o600
    assert not path.exists()
    assert listener.steps and listener.steps[-1].endswith("(100%)")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("{server}/missing.labctl", "the server answered 404"),
        ("http://127.0.0.1:9/x.labctl", "cannot download http://127.0.0.1:9/x.labctl: "),
    ],
)
def test_a_download_that_fails_is_one_line_and_leaves_nothing(server: str, tmp_path: Path, url: str, why: str) -> None:
    with pytest.raises(LabctlError) as caught:
        bundles.replay(url.format(server=server), "fresh")
    assert why in str(caught.value) and "\n" not in str(caught.value)
    assert [p.name for p in state_files(tmp_path)] in ([], ["labctl"])


@pytest.mark.parametrize("source", ["file:///etc/passwd", "ftp://127.0.0.1/x.labctl", "gopher://x"])
def test_other_url_schemes_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with pytest.raises(LabctlError) as caught:
        bundles.replay(source, "fresh")
    assert "only a file, or an http:// or https:// URL" in str(caught.value)


def test_a_downloaded_bundle_is_checked_like_a_file(server: str, tmp_path: Path) -> None:
    """Replayed under a name already in use: refused after the download, and the download is gone."""
    (tmp_path / "www" / "bad.labctl").write_bytes(b"PK\x03\x04 not a bundle")
    with pytest.raises(LabctlError) as caught:
        bundles.replay(f"{server}/bad.labctl", "fresh")
    assert "not a labctl bundle" in str(caught.value)
    assert not [p for p in state_files(tmp_path) if p.name.startswith(".download-")]
