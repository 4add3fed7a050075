#!/usr/bin/env bash
# The sample service's disaster recovery plan, for real: installs and builds like demo.sh, then backs up
# an embedded PostgreSQL, credentials and config, breaks all three, and runs `nexus-backup recover`.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env.sh
pnpm install --frozen-lockfile
pnpm build
node scripts/demo-recover.mjs "$@"
