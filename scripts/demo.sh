#!/usr/bin/env bash
# hoard end to end with a real `npm install` and nothing but loopback: a local
# HTTPS npm registry (scripts/demo_registry.ts), hoard intercepting TLS on a
# temp cache directory, and one project installed four times with npm's own
# cache empty each time:
#
#   direct        npm straight to the registry (no hoard): the baseline
#   cold          through hoard, hoard's cache empty
#   warm          through a new hoard on the same cache directory (the next CI job)
#   registry down the registry stopped, through hoard again
#
# It ends with a table: npm's wall time, requests and bytes that reached the
# registry, and what hoard says it did (its --summary-json, and the
# Cache-Status of each request in its JSON log).
#
#   bash scripts/demo.sh       (or: deno task demo)
#
# DEMO_LATENCY_MS (default 40) delays each registry answer, standing in for a
# registry across the internet; DEMO_LIBS / DEMO_UTILS / DEMO_PADDING shape the
# package tree; KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1

DENO=${DENO:-deno}
for tool in "$DENO" node npm tar; do
  command -v "$tool" >/dev/null || { echo "demo: needs $tool on PATH" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/hoard-demo-XXXXXX")
registry_pid=""
hoard_pid=""
cleanup() {
  [ -n "$hoard_pid" ] && kill "$hoard_pid" 2>/dev/null || true
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "demo: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Polls until file $1 exists (and, with $2, until it matches that regex); 20 s at most.
wait_for() {
  for _ in $(seq 200); do
    if [ -s "$1" ] && { [ -z "${2:-}" ] || grep -Eq "$2" "$1"; }; then return 0; fi
    sleep 0.1
  done
  echo "demo: timed out waiting for $1" >&2
  cat "$1" >&2 2>/dev/null || true
  exit 1
}

# A JSON field of file $1: json FILE EXPR (EXPR in terms of `j`).
json() { node -p "const j = require(process.argv[1]); $2" "$1"; }

# --- the registry -----------------------------------------------------------
latency=${DEMO_LATENCY_MS:-40}
echo "demo: building the package tree and starting the registry (answers after ${latency} ms)"
"$DENO" run --allow-net=127.0.0.1 --allow-read --allow-write --allow-run=tar \
  scripts/demo_registry.ts --dir "$work/registry" --latency "$latency" \
  --libs "${DEMO_LIBS:-8}" --utils "${DEMO_UTILS:-24}" --padding "${DEMO_PADDING:-65536}" \
  >"$work/registry.log" 2>&1 &
registry_pid=$!
wait_for "$work/registry/ready.json"
port=$(json "$work/registry/ready.json" j.port)
registry_url=$(json "$work/registry/ready.json" j.url)
packages=$(json "$work/registry/ready.json" j.packages)
echo "demo: registry $registry_url with $packages packages"

# --- the project --------------------------------------------------------------
mkdir -p "$work/project" "$work/home"
cat >"$work/project/package.json" <<'EOF'
{ "name": "demo-app", "version": "1.0.0", "private": true, "dependencies": { "demo-top": "^1.0.0" } }
EOF
: >"$work/home/user.npmrc"
: >"$work/home/global.npmrc"

# --- hoard, one process per run, like one per CI job --------------------------
cache_dir="$work/hoard-cache"
start_hoard() {
  "$DENO" run --allow-net --allow-env --allow-read --allow-write mod.ts \
    --port 0 --cache-dir "$cache_dir" --intercept --connect-ports "$port" \
    --upstream-ca "$work/registry/cert.pem" --allow-hosts localhost \
    --log-format json --summary-json "$work/summary-$1.json" 2>"$work/hoard-$1.log" &
  hoard_pid=$!
  wait_for "$work/hoard-$1.log" 'listening on http://127\.0\.0\.1:[0-9]+'
  hoard_url=$(grep -Eo 'http://127\.0\.0\.1:[0-9]+' "$work/hoard-$1.log" | head -1)
}
stop_hoard() {
  kill -INT "$hoard_pid"
  wait "$hoard_pid" || true
  hoard_pid=""
}

# Installs the project from scratch: no node_modules, npm's cache empty.
# npm_install LABEL [PROXY CA]; sets $ms.
npm_install() {
  local label=$1 proxy=${2:-} ca=${3:-$work/registry/cert.pem}
  rm -rf "$work/project/node_modules"
  local args=(install --registry "$registry_url" --cache "$work/npm-cache-$label"
    --no-package-lock --no-audit --no-fund --fetch-retries 0)
  [ -n "$proxy" ] && args+=(--proxy "$proxy" --https-proxy "$proxy")
  local start end
  start=$(date +%s%N)
  if ! (cd "$work/project" && env -i PATH="$PATH" HOME="$work/home" NO_COLOR=1 \
    NODE_EXTRA_CA_CERTS="$ca" npm_config_userconfig="$work/home/user.npmrc" \
    npm_config_globalconfig="$work/home/global.npmrc" npm_config_update_notifier=false \
    npm "${args[@]}" >"$work/npm-$label.log" 2>&1); then
    echo "demo: npm install ($label) failed:" >&2
    cat "$work/npm-$label.log" >&2
    exit 1
  fi
  end=$(date +%s%N)
  ms=$(((end - start) / 1000000))
  # The installed tree loads: demo-top requires every library, each its utilities.
  (cd "$work/project" && node -e 'require("demo-top")') ||
    { echo "demo: node_modules is broken after $label" >&2; exit 1; }
}

registry_requests() { json "$work/registry/stats.json" j.requests; }
registry_bytes() { json "$work/registry/stats.json" j.bytes; }

rows=()
declare -A ms_of
# row LABEL MS REQUESTS BYTES [SUMMARY LOG]
row() {
  local hoard="-" status="-"
  if [ -n "${5:-}" ]; then
    hoard=$(json "$5" '`${j.hits} hit, ${j.misses} miss, ${j.staleServed} stale; ${(j.bytesFromCache / 1048576).toFixed(2)} MiB from cache`')
    # Cache-Status of the requests hoard answered (its JSON log), by kind.
    status=$(node -e '
      const counts = {};
      for (const line of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) {
        if (!line.startsWith("{")) continue;
        const l = JSON.parse(line);
        if (l.method !== "GET") continue;
        const s = l.cacheStatus ?? "none";
        const kind = /detail=stale-if-error/.test(s) ? "stale-if-error"
          : /; hit\b/.test(s) ? "hit" : /fwd=uri-miss/.test(s) ? "uri-miss" : s;
        counts[kind] = (counts[kind] ?? 0) + 1;
      }
      console.log(Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", "));
    ' "$6")
  fi
  rows+=("$(printf '| %-13s | %7s ms | %15s | %12s | %-48s | %-22s |' "$1" "$2" "$3" \
    "$(node -p "(${4} / 1048576).toFixed(2) + ' MiB'")" "$hoard" "$status")")
}

# --- the runs ---------------------------------------------------------------
echo "demo: direct"
r0=$(registry_requests) b0=$(registry_bytes)
npm_install direct
row "direct" "$ms" $(($(registry_requests) - r0)) $(($(registry_bytes) - b0))

for run in cold warm; do
  echo "demo: $run (through hoard)"
  start_hoard "$run"
  r0=$(registry_requests) b0=$(registry_bytes)
  npm_install "$run" "$hoard_url" "$cache_dir/ca/ca.pem"
  requests=$(($(registry_requests) - r0))
  stop_hoard
  ms_of[$run]=$ms
  row "$run" "$ms" "$requests" "$(json "$work/summary-$run.json" j.bytesFromOrigin)" \
    "$work/summary-$run.json" "$work/hoard-$run.log"
done

echo "demo: registry down (through hoard)"
kill -TERM "$registry_pid"
wait "$registry_pid" || true
registry_pid=""
start_hoard down
npm_install down "$hoard_url" "$cache_dir/ca/ca.pem"
stop_hoard
row "registry down" "$ms" 0 "$(json "$work/summary-down.json" j.bytesFromOrigin)" \
  "$work/summary-down.json" "$work/hoard-down.log"

# --- the table --------------------------------------------------------------
echo
echo "npm $(npm --version) install of $packages packages (npm cache empty each run; registry answers after ${latency} ms)"
echo
printf '| %-13s | %10s | %15s | %12s | %-48s | %-22s |\n' run "wall time" "origin requests" \
  "from origin" "hoard summary" "Cache-Status"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..15})" "$(printf -- '-%.0s' {1..12})" \
  "$(printf -- '-%.0s' {1..17})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..50})" \
  "$(printf -- '-%.0s' {1..24})"
printf '%s\n' "${rows[@]}"
echo
echo "warm vs cold: $(node -p "(${ms_of[cold]} / ${ms_of[warm]}).toFixed(1)")x faster, and with the registry down the install still succeeds."
