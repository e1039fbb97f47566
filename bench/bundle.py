"""What saving and replaying a lab costs, side by side with `up` in the same run.

Brings a lab up (its demo run: the report a bundle keeps), then times `save` without the image,
`save --with-image` (size and MB/s: zstd with threads over an already-compressed qcow2), the
checksum pass of a replay (`verify_bundle`), and `replay` of the bundle with its image on an empty
image cache (a real replay: unpack, install the image, up, demo, compare). The JSON result goes to
bench/results/bundle.json.

    .venv/bin/python bench/bundle.py [--topology voip-demo] [-o FILE]

Targets (issue 11): save without the image <= 5 s; replay with the image <= up (and its demo) + the
checksums, i.e. replay_minus_up_demo_and_checksums_s <= 0 (unpacking and installing the image are the rest).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from labctl.bundle import verify_bundle
from labctl.service import bundles, labs, verify
from labctl.service.events import QUIET

ROOT = Path(__file__).resolve().parent.parent
EMPTY_CACHE = Path("/var/cache/labctl-bench-replay")  # QEMU's own user must reach the image


def timed(what: Any) -> tuple[Any, float]:
    start = time.monotonic()
    value = what()
    return value, round(time.monotonic() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--topology", default="voip-demo")
    parser.add_argument("-o", "--output", default=str(ROOT / "bench" / "results" / "bundle.json"))
    args = parser.parse_args()
    result: dict[str, Any] = {"host": platform.node(), "cpus": os.cpu_count(), "topology": args.topology}
    with tempfile.TemporaryDirectory(prefix="labctl-bench-bundle-") as tmp:
        launched, result["up_s"] = timed(lambda: labs.up(args.topology, QUIET))
        lab = launched.state.lab
        try:
            if launched.demo:
                report, result["demo_s"] = timed(lambda: verify.verify(launched.state, launched.demo))
                result["demo_verdict"] = report.verdict
            plain, result["save_s"] = timed(lambda: bundles.save(lab, Path(tmp) / "plain.labctl"))
            result["save_bytes"] = plain.bytes
            full, result["save_with_image_s"] = timed(
                lambda: bundles.save(lab, Path(tmp) / "full.labctl", with_image=True)
            )
            result["save_with_image_bytes"] = full.bytes
            result["save_with_image_mb_per_s"] = round(full.bytes / 1e6 / max(result["save_with_image_s"], 0.01), 1)
            _, result["verify_s"] = timed(lambda: verify_bundle(Path(tmp) / "full.labctl"))
        finally:
            labs.down(lab)
        shutil.rmtree(EMPTY_CACHE, ignore_errors=True)
        EMPTY_CACHE.mkdir(mode=0o755)
        os.environ["XDG_CACHE_HOME"] = str(EMPTY_CACHE)
        name = f"{lab[:11]}-again"
        try:
            replayed, result["replay_with_image_s"] = timed(lambda: bundles.replay(Path(tmp) / "full.labctl", name))
            result["replay_same"] = replayed.same
        finally:
            labs.down(name)
            shutil.rmtree(EMPTY_CACHE, ignore_errors=True)
    baseline = result["up_s"] + result.get("demo_s", 0) + result["verify_s"]
    result["replay_minus_up_demo_and_checksums_s"] = round(result["replay_with_image_s"] - baseline, 1)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
