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
