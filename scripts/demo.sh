#!/usr/bin/env bash
# One command on a fresh clone: installs Node 24 + pnpm into a cache folder, installs and builds the
# workspace, then runs a real backup -> list -> verify -> restore of the sample service (files,
# credentials and an embedded PostgreSQL database) and prints what matched.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env.sh
pnpm install --frozen-lockfile
pnpm build
node scripts/demo.mjs "$@"
