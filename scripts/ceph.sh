#!/usr/bin/env bash
# A one-node Ceph cluster with an S3 endpoint, for hoard's shared-tier tests,
# its benchmark and the README: one monitor, one memstore OSD and one RADOS
# Gateway, all on 127.0.0.1 on free ports, everything under one temp directory.
#
#   scripts/ceph.sh start [DIR]   start; prints shell variables (endpoint, keys, dir, pids)
#   scripts/ceph.sh stop DIR      kill every daemon started in DIR and remove DIR
#   scripts/ceph.sh rgw-kill DIR  kill the gateway only (kill -9): the S3 endpoint goes away
#   scripts/ceph.sh rgw-start DIR start the gateway again on the same port; waits until ready
#
# Keys: $CEPH_ACCESS_KEY / $CEPH_SECRET_KEY (default hoard / hoard-secret-key).
# Memory: $CEPH_STORE_BYTES caps what the memstore OSD holds (default 1 GiB).
# Ceph is installed from Debian (ceph-mon ceph-osd radosgw) when missing.
#
# The settings below are what it took to bring one up here (see the issue that
# added this script): each non-default line says why it is there.
set -euo pipefail

die() { echo "ceph.sh: $*" >&2; exit 1; }

install_ceph() {
  command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && command -v radosgw >/dev/null && return 0
  echo "ceph.sh: installing ceph-mon ceph-osd radosgw with apt-get" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    ceph-mon ceph-osd radosgw ceph-common) >/tmp/hoard-apt-ceph.log 2>&1 ||
    die "apt-get install failed (see /tmp/hoard-apt-ceph.log)"
}

# N free TCP ports on 127.0.0.1 (bound together, so they differ).
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
PY
}

stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  [ -f "$dir/ceph.conf" ] || die "$dir is not a directory made by ceph.sh start"
  # The gateway first (it holds the port clients use), then the OSD, the monitor last.
  for name in rgw osd mon; do
    local f="$dir/$name.pid"
    [ -f "$f" ] || continue
    local pid; pid=$(cat "$f")
    kill -KILL "$pid" 2>/dev/null || true
    # Gone, or a zombie nobody reaps (its parent shell has exited): dead either way.
    for _ in $(seq 100); do
      grep -qs '^State:\s*[A-Y]' "/proc/$pid/status" || break
      sleep 0.02
    done
  done
  rm -rf "$dir"
}

# Starts a daemon in the foreground mode (-f) in the background, its pid in DIR/NAME.pid.
spawn() {
  local dir=$1 name=$2; shift 2
  "$@" -f -c "$dir/ceph.conf" >>"$dir/log/$name.out" 2>&1 &
  echo $! >"$dir/$name.pid"
}

start() {
  install_ceph
  local dir=${1:-}
  if [ -z "$dir" ]; then dir=$(mktemp -d /tmp/hoard-ceph-XXXXXX); else mkdir -p "$dir"; fi
  dir=$(cd "$dir" && pwd)
  # Anything failing from here on leaves nothing running behind.
  trap 'echo "ceph.sh: start failed; logs:" >&2; tail -n 20 "$dir"/log/* >&2 2>/dev/null; stop "$dir"' ERR
  mkdir -p "$dir/log" "$dir/run" "$dir/mon" "$dir/osd"
  local access=${CEPH_ACCESS_KEY:-hoard} secret=${CEPH_SECRET_KEY:-hoard-secret-key}
  local bytes=${CEPH_STORE_BYTES:-1073741824}
  read -r mon2 mon1 rgw < <(free_ports 3)
  local fsid; fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
# The monitor's two addresses, exactly as monmaptool --addv was given them.
mon host = [v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
# Without it radosgw loops on "get_initial_auth_request returned -13".
ms mon client mode = crc
# One OSD: pools of one copy, few placement groups (radosgw makes about eight
# pools; 32 PGs each would exceed the per-OSD limit), placement across OSDs only.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# Creating the first user (which creates radosgw's pools) takes ~10 s with the default 1 s.
paxos propose interval = 0.05
# A temp directory on a nearly full disk must not stop the monitor.
mon data avail crit = 0
osd fast shutdown notify mon = false
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
log to stderr = false
err to stderr = true
mon cluster log file = $dir/log/cluster.log
debug ms = 0
# Keep memory small: two cores and many processes share this machine.
osd memory target = 268435456
osd op num shards = 1
osd op num threads per shard = 2
ms async op threads = 1

[mon.a]
mon data = $dir/mon

[osd.0]
osd data = $dir/osd
osd objectstore = memstore
memstore device bytes = $bytes

[client]
# No metadata cache, so no cache-invalidation notifies: a killed radosgw (or an
# exited radosgw-admin) leaves watchers that the OSD keeps for 30 s, and every
# bucket creation would wait for them to time out (two 10 s retries).
rgw cache enabled = false

[client.rgw]
# Without tcp_nodelay, beast's response head and body wait on the client's
# delayed ACK: a 10 KB GET took 48 ms (median) instead of 3-5.
rgw frontends = beast endpoint=127.0.0.1:$rgw tcp_nodelay=1
rgw data = $dir/rgw
rgw thread pool size = 32
# Else radosgw holds its port for 120 s after it is told to stop.
rgw exit timeout secs = 2
rgw enable usage log = false
EOF
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]" \
    "$dir/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$dir/monmap" -c "$dir/ceph.conf" >>"$dir/log/mkfs.out" 2>&1
  spawn "$dir" mon ceph-mon -i a
  local uuid; uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  local id; id=$(timeout 30 ceph -c "$dir/ceph.conf" osd new "$uuid" 2>>"$dir/log/ceph.out")
  [ "$id" = 0 ] || die "expected osd id 0, got '$id'"
  ceph-osd -i 0 --mkfs --osd-uuid "$uuid" -c "$dir/ceph.conf" >>"$dir/log/mkfs.out" 2>&1
  spawn "$dir" osd ceph-osd -i 0
  spawn "$dir" rgw radosgw -n client.rgw
  # Creating the user creates radosgw's pools: it waits for the OSD to be up.
  timeout 60 radosgw-admin -c "$dir/ceph.conf" -n client.admin user create --uid hoard \
    --display-name hoard --access-key "$access" --secret "$secret" >>"$dir/log/ceph.out" 2>&1
  local endpoint="http://127.0.0.1:$rgw"
  # Ready means a signed request is answered, not only that the port is open.
  wait_ready "$endpoint" "$access" "$secret" || die "radosgw did not answer a signed ListBuckets in 60 s"
  trap - ERR
  printf 'ENDPOINT=%s\nACCESS=%s\nSECRET=%s\n' "$endpoint" "$access" "$secret" >"$dir/endpoint.env"
  cat <<EOF
CEPH_DIR=$dir
AWS_ENDPOINT_URL=$endpoint
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=us-east-1
CEPH_RGW_PID=$(cat "$dir/rgw.pid")
CEPH_OSD_PID=$(cat "$dir/osd.pid")
CEPH_MON_PID=$(cat "$dir/mon.pid")
EOF
}

# A signed ListBuckets (AWS SigV4, computed here with python3's standard library).
wait_ready() {
  python3 - "$@" <<'PY'
import datetime, hashlib, hmac, sys, time, urllib.request, urllib.error
endpoint, access, secret = sys.argv[1:4]
host = endpoint.split("//", 1)[1]
def sign(key, msg): return hmac.new(key, msg.encode(), hashlib.sha256).digest()
deadline = time.time() + 60
while time.time() < deadline:
    now = datetime.datetime.now(datetime.timezone.utc)
    amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    empty = hashlib.sha256(b"").hexdigest()
    canonical = f"GET\n/\n\nhost:{host}\nx-amz-content-sha256:{empty}\nx-amz-date:{amz}\n\nhost;x-amz-content-sha256;x-amz-date\n{empty}"
    scope = f"{day}/us-east-1/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    k = sign(sign(sign(sign(("AWS4" + secret).encode(), day), "us-east-1"), "s3"), "aws4_request")
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(endpoint + "/", headers={
        "x-amz-date": amz, "x-amz-content-sha256": empty,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            if r.status == 200: sys.exit(0)
    except (urllib.error.URLError, ConnectionError, OSError):
        pass
    time.sleep(0.1)
sys.exit(1)
PY
}

kill_rgw() {
  local dir=$1 pid; pid=$(cat "$dir/rgw.pid")
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 100); do grep -qs '^State:\s*[A-Y]' "/proc/$pid/status" || break; sleep 0.02; done
}

restart_rgw() {
  local dir=$1
  # shellcheck disable=SC1091
  . <(grep -E '^(ENDPOINT|ACCESS|SECRET)=' "$dir/endpoint.env")
  spawn "$dir" rgw radosgw -n client.rgw
  wait_ready "$ENDPOINT" "$ACCESS" "$SECRET" || die "radosgw did not come back in 60 s"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) [ -n "${2:-}" ] || die "usage: ceph.sh stop DIR"; stop "$2" ;;
  rgw-kill) [ -n "${2:-}" ] || die "usage: ceph.sh rgw-kill DIR"; kill_rgw "$2" ;;
  rgw-start) [ -n "${2:-}" ] || die "usage: ceph.sh rgw-start DIR"; restart_rgw "$2" ;;
  install) install_ceph ;;
  *) echo "usage: scripts/ceph.sh start [DIR] | stop DIR | rgw-kill DIR | rgw-start DIR | install" >&2; exit 2 ;;
esac
