#!/usr/bin/env bash
# Install what the tests need, then run lint, types, unit and integration tests (real VMs under TCG).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/ruff check labctl tests bench
.venv/bin/ruff format --check labctl tests bench
.venv/bin/mypy
.venv/bin/pytest -q -p no:cacheprovider tests/unit
.venv/bin/pytest -q -p no:cacheprovider tests/integration
# The hostile renders read back by the real slapd, bind9, bird and kamailio, extracted from the
# .debs that the integration tests' image build left in the cache (nothing is installed).
LABCTL_REAL_TOOLS=1 .venv/bin/pytest -q -p no:cacheprovider tests/unit/render/test_real_tools.py
