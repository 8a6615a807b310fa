#!/usr/bin/env bash
# npm run test:gyp — proves binding.gyp builds the same addon as CMakeLists.txt:
#   1. copies package.json, binding.gyp, native/, binding/ to a temp dir
#      (node_modules symlinked) and runs `node-gyp rebuild` there;
#   2. loads that hvd.node through dist/ (HVD_NATIVE_PATH) under
#      `mpirun -np 2`: init, size == 2, allreduceSync sum, shutdown, and
#      buildInfo().addonPath is the gyp-built file; HOROVOD_TIMELINE is
#      written through the gyp-built hvd-timeline beside it.
# Exits non-zero on any failure. Env: HVD_GYP_SMOKE_TIMEOUT_S (default 300).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TIMEOUT_S="${HVD_GYP_SMOKE_TIMEOUT_S:-300}"

log() { echo "[hvd gyp] $*"; }
die() { echo "[hvd gyp] ERROR: $*" >&2; exit 1; }

# --- prerequisites ------------------------------------------------------------
node scripts/setup.js --deps-only || die "system dependencies are missing (see above)"
command -v python3 >/dev/null 2>&1 ||
  die "node-gyp needs python3: sudo apt-get install -y python3"
command -v mpirun >/dev/null 2>&1 || die "mpirun is not on PATH"
command -v mpicc >/dev/null 2>&1 || die "mpicc is not on PATH (sudo apt-get install -y libopenmpi-dev)"

# node-gyp: the copy npm runs scripts with, a local one, or the one bundled with npm.
NODE_GYP=""
for c in \
  "${npm_config_node_gyp:-}" \
  "$ROOT/node_modules/node-gyp/bin/node-gyp.js" \
  "${npm_execpath:+$(dirname "${npm_execpath}")/../node_modules/node-gyp/bin/node-gyp.js}" \
  "$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"; do
  if [ -n "$c" ] && [ -f "$c" ]; then NODE_GYP="$(readlink -f "$c")"; break; fi
done
[ -n "$NODE_GYP" ] || die "node-gyp not found (it ships with npm; or: npm install -g node-gyp)"

# Build against the local Node headers when they exist (no download).
GYP_ARGS=(rebuild --jobs max)
if [ -z "${npm_config_nodedir:-}" ]; then
  NODE_PREFIX="$(node -p "require('path').dirname(require('path').dirname(process.execPath))")"
  if [ -f "$NODE_PREFIX/include/node/node.h" ]; then GYP_ARGS+=("--nodedir=$NODE_PREFIX"); fi
fi

# dist/ is what the smoke test loads; build it from the current sources.
log "building dist/ (npm run build:ts)"
npm run --silent build:ts

# --- node-gyp build in a temp copy ----------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hvd-gyp.XXXXXX")"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
cp package.json binding.gyp "$TMP/"
cp -R native binding "$TMP/"
ln -s "$ROOT/node_modules" "$TMP/node_modules"

log "node-gyp $(node "$NODE_GYP" --version) rebuild in $TMP"
START=$(date +%s)
(cd "$TMP" && node "$NODE_GYP" "${GYP_ARGS[@]}" --loglevel=warn) || die "node-gyp rebuild failed"
ADDON="$TMP/build/Release/hvd.node"
[ -f "$ADDON" ] || die "node-gyp did not produce $ADDON"
[ -x "$TMP/build/Release/hvd-timeline" ] || die "node-gyp did not produce the trace writer $TMP/build/Release/hvd-timeline"
log "built $ADDON and hvd-timeline in $(( $(date +%s) - START ))s"

# Same exports as the CMake build (when there is one)?
CMAKE_ADDON="$ROOT/build/Release/hvd.node"
if [ -f "$CMAKE_ADDON" ]; then
  if node -e '
    const a = Object.keys(require(process.argv[1])).sort().join(",");
    const b = Object.keys(require(process.argv[2])).sort().join(",");
    if (a !== b) { console.error("gyp:   " + a + "\ncmake: " + b); process.exit(1); }
  ' "$ADDON" "$CMAKE_ADDON"; then
    log "exports match the CMake build"
  else
    log "WARNING: exports differ from build/Release/hvd.node (stale CMake build? run npm run build:native)"
  fi
fi

# --- smoke test under mpirun -np 2 ---------------------------------------------
MPIRUN_ARGS=(-np 2 --bind-to none --oversubscribe)
if [ "$(id -u)" = "0" ]; then
  MPIRUN_ARGS+=(--allow-run-as-root)
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export HVD_NATIVE_PATH="$ADDON"
# The gyp-built trace writer must be the one found beside the gyp-built addon.
export HOROVOD_TIMELINE="$TMP/trace.json"
for v in $(env | sed -n 's/^\(\(HVD\|HOROVOD\)_[A-Za-z0-9_]*\)=.*/\1/p'); do MPIRUN_ARGS+=(-x "$v"); done
MPIRUN_ARGS+=(-x PATH)

SMOKE_JS='
const assert = require("assert");
const fs = require("fs");
const hvd = require(process.cwd() + "/dist");
hvd.init();
const rank = hvd.rank();
assert.strictEqual(hvd.size(), 2, "size");
const out = hvd.allreduceSync(new Float32Array([1 + rank, 10 * (rank + 1)]), { op: "sum" });
assert.ok(out instanceof Float32Array, "allreduceSync returns a Float32Array");
assert.deepStrictEqual(Array.from(out), [3, 30], "allreduce sum");
const addonPath = hvd.buildInfo().addonPath;
assert.strictEqual(fs.realpathSync(addonPath), fs.realpathSync(process.env.HVD_NATIVE_PATH),
  "buildInfo().addonPath is the node-gyp build");
hvd.shutdown();
console.log("OK rank " + rank + " addon " + addonPath);
'
log "mpirun ${MPIRUN_ARGS[*]} node -e <smoke>"
set +e
timeout -k 10 "$TIMEOUT_S" mpirun "${MPIRUN_ARGS[@]}" node -e "$SMOKE_JS" 2>&1 | tee "$TMP/smoke.log"
RC=${PIPESTATUS[0]}
set -e
if [ "$RC" = "124" ] || [ "$RC" = "137" ]; then die "smoke test timed out after ${TIMEOUT_S}s"; fi
[ "$RC" = "0" ] || die "smoke test failed (mpirun exit code $RC)"
OK_LINES=$(grep -c '^OK rank ' "$TMP/smoke.log" || true)
[ "$OK_LINES" = "2" ] || die "expected 2 'OK rank' lines, got $OK_LINES"
if grep -q "cannot start the trace writer" "$TMP/smoke.log"; then die "the addon did not start the gyp-built hvd-timeline"; fi
node -e 'const e = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (!e.some((x) => x.name === "ALLREDUCE")) process.exit(1)' "$HOROVOD_TIMELINE" ||
  die "the timeline written through hvd-timeline is not a trace with the allreduce"
log "OK: node-gyp addon passes the mpirun -np 2 smoke test"
