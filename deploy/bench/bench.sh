#!/usr/bin/env bash
# pangate gateway benchmark: direct PostgreSQL, pgbouncer, a byte-copy proxy and the gateway (auditing to
# the real Kafka broker; "gateway" with audit.reads strict, "pipelined" with pipelined reads), side by side in one run on the local stack (`go tool task up` first), plus the
# floor under the gateway: a bare franz-go producer's acks=all round trip to the same broker.
#
#   deploy/bench/bench.sh            # BENCH_SECONDS=10 per pgbench run, BENCH_SCALE=10, BENCH_IDLE=200,
#                                    # BENCH_ROUNDS=2 (every path is measured that many times, interleaved),
#                                    # BENCH_KEEP=DIR keeps the gateway's CPU profiles
#
# Prints a Markdown report (the source of BENCHMARKS.md). Needs psql, pgbench, curl and python3; installs
# pgbouncer (Debian package) when missing. Traffic stays on loopback. On a shared machine compare only
# ratios measured in the same run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
set -a; . .stack/env; set +a
# Hold the broker as the integration tests do (integration/stack/lock.go): a shared flock on
# .stack/locks/kafka.lock, taken through the gate, keeps tests that stop Kafka waiting until the run ends.
mkdir -p .stack/locks
exec 8<>.stack/locks/kafka.gate 9<>.stack/locks/kafka.lock
flock -s -w 60 8 || true
flock -s 9
flock -u 8
DUR=${BENCH_SECONDS:-10}
SCALE=${BENCH_SCALE:-10}
IDLE=${BENCH_IDLE:-200}
ROUNDS=${BENCH_ROUNDS:-2}
WORK=$(mktemp -d /tmp/pangate-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
log() { echo "bench: $*" >&2; }

if ! command -v pgbouncer >/dev/null; then
  log "installing pgbouncer (apt-get)"
  SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get install -y -q pgbouncer >/dev/null || { "${SUDO[@]}" apt-get update -q >/dev/null && "${SUDO[@]}" apt-get install -y -q pgbouncer >/dev/null; }
  command -v pgbouncer >/dev/null || { echo "bench: pgbouncer could not be installed: apt-get install pgbouncer" >&2; exit 1; }
fi

log "building"
go build -o "$WORK/gateway" ./gateway
go build -o "$WORK/launch" ./deploy/bench/launch
go build -o "$WORK/bytecopy" ./deploy/bench/bytecopy
go build -o "$WORK/client" ./deploy/bench/client
go build -o "$WORK/kafkabase" ./deploy/bench/kafkabase
go build -o "$WORK/issuer" ./deploy/issuer

ADMIN=$PANGATE_PG_ADMIN_DSN
DB=pangate_bench
PGUSER_=$(python3 -c 'import sys,urllib.parse as u;p=u.urlparse(sys.argv[1]);print(p.username)' "$ADMIN")
PGPASS_=$(python3 -c 'import sys,urllib.parse as u;p=u.urlparse(sys.argv[1]);print(u.unquote(p.password or ""))' "$ADMIN")
BDSN="host=$PANGATE_PG_HOST port=$PANGATE_PG_PORT user=$PGUSER_ password=$PGPASS_ dbname=$DB sslmode=disable"
log "preparing database $DB (scale $SCALE)"
psql -X -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
pgbench -i -q -s "$SCALE" "$BDSN" >/dev/null 2>&1
psql -X -q "$ADMIN" -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_reader') THEN CREATE ROLE bench_reader NOLOGIN; END IF; END\$\$" >/dev/null
psql -X -q "$BDSN" -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench_reader" >/dev/null

wait_for() { # file pattern
  for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "bench: timed out waiting for $2 in $1" >&2; cat "$1" >&2; exit 1
}

log "starting the dev issuer"
"$WORK/issuer" -url-file "$WORK/issuer.url" >/dev/null 2>"$WORK/issuer.log" & PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/issuer.url" ] && break; sleep 0.1; done
ISS=$(cat "$WORK/issuer.url")
TOKEN=$(curl -fsS -X POST "$ISS/mint" -d '{"sub":"bench","aud":["pangate-bench"],"ttl_seconds":3600}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')

"$WORK/gateway" keygen -out "$WORK/checkpoint.pem" >/dev/null
# start_gateway NAME READS: a gateway process (instance bench-NAME, its own topics) with audit.reads READS,
# started by deploy/bench/launch (internal/launch: the config is the gateway's own type, as in the
# integration tests and the demo); sets GWPID_<NAME> (the gateway's own pid), GWPORT_<NAME> and OPS_<NAME>.
start_gateway() {
  local name=$1 reads=$2 ready pid port ops
  log "starting the gateway ($name, audit.reads $reads)"
  "$WORK/launch" -name "$name" -reads "$reads" -db "$DB" -issuer "$ISS" -key "$WORK/checkpoint.pem" -dir "$WORK" \
    -bin "$WORK/gateway" -prefix "bench.$$.$name." -linger "${BENCH_LINGER:-0s}" >"$WORK/launch-$name.out" 2>"$WORK/launch-$name.log" & PIDS+=($!)
  wait_for "$WORK/launch-$name.out" '^ready '
  read -r ready pid port ops < "$WORK/launch-$name.out"
  printf -v "GWPID_$name" %s "$pid"; printf -v "GWPORT_$name" %s "$port"; printf -v "OPS_$name" %s "$ops"
}
start_gateway strict strict
start_gateway pipelined pipelined
GWPID=$GWPID_strict GWPORT=$GWPORT_strict OPS=$OPS_strict

log "starting the byte-copy proxy"
"$WORK/bytecopy" -upstream "$PANGATE_PG_HOST:$PANGATE_PG_PORT" 2>"$WORK/bytecopy.log" & BCPID=$!; PIDS+=($BCPID)
wait_for "$WORK/bytecopy.log" listening
BCPORT=$(grep -o 'listening .*' "$WORK/bytecopy.log" | head -1 | awk -F: '{print $NF}')

log "starting pgbouncer"
PBPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
PB="$WORK/pgbouncer"; mkdir -p "$PB"; chmod 777 "$PB"   # pgbouncer refuses root and runs as postgres
echo "\"$PGUSER_\" \"\"" > "$PB/userlist.txt"
cat > "$PB/pgbouncer.ini" <<INI
[databases]
$DB = host=$PANGATE_PG_HOST port=$PANGATE_PG_PORT user=$PGUSER_ password=$PGPASS_ dbname=$DB
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PBPORT
unix_socket_dir =
auth_type = trust
auth_file = $PB/userlist.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
logfile = $PB/pgbouncer.log
pidfile = $PB/pgbouncer.pid
INI
chmod 644 "$PB"/*
if [ "$(id -u)" = 0 ]; then PBUSER=(-u postgres); else PBUSER=(); fi
pgbouncer "${PBUSER[@]}" "$PB/pgbouncer.ini" 2>"$WORK/pgbouncer.err" & PBPID=$!; PIDS+=($PBPID)
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$PBPORT) 2>/dev/null && break; sleep 0.1; done
if ! kill -0 "$PBPID" 2>/dev/null; then
  echo "bench: pgbouncer exited at start:" >&2; cat "$WORK/pgbouncer.err" "$PB/pgbouncer.log" >&2 2>/dev/null; exit 1
fi

# ticks PID: user+system CPU in clock ticks, empty if the process is gone. Fields are counted after the ")"
# closing the command name (which may hold spaces), so a name with spaces cannot shift them.
ticks() {
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  st=${st##*) }
  set -f; set -- $st; set +f
  echo $(( ${12} + ${13} ))
}
# proxy_ticks PID: ticks of a process this script started; one that died is fatal, with its logs.
proxy_ticks() {
  local t; t=$(ticks "$1")
  if [ -z "$t" ]; then
    echo "bench: process $1 exited during the run; logs:" >&2; tail -n 20 "$WORK"/*.log "$WORK"/*.err >&2 2>/dev/null; exit 1
  fi
  echo "$t"
}
HZ=$(getconf CLK_TCK)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# The broker is shared: another engineer's test may restart it mid-run. Its CPU is then reported as "?" for
# the measurement that spanned the restart, and the new process is measured from the next one on.
broker_pid() { pgrep -f 'kafka.Kafka' | head -1 || true; }
KPID=$(broker_pid)

declare -A DSN=(
  [direct]="$BDSN"
  [pgbouncer]="host=127.0.0.1 port=$PBPORT user=$PGUSER_ dbname=$DB sslmode=disable"
  [bytecopy]="host=127.0.0.1 port=$BCPORT user=$PGUSER_ password=$PGPASS_ dbname=$DB sslmode=disable"
  [gateway]="host=127.0.0.1 port=$GWPORT user=bench_reader@pg dbname=$DB sslmode=disable"
  [pipelined]="host=127.0.0.1 port=$GWPORT_pipelined user=bench_reader@pg dbname=$DB sslmode=disable"
)
declare -A PID=([direct]="" [pgbouncer]=$PBPID [bytecopy]=$BCPID [gateway]=$GWPID [pipelined]=$GWPID_pipelined)
declare -A TPS TPS64 LAT CPU KCPU KCPU64 ROWS KB

pgb() { # name args...
  local name=$1; shift
  PGPASSWORD=$TOKEN pgbench -n -S "$@" "${DSN[$name]}" 2>/dev/null
}
# measure KEY name clients seconds: TPS, and proxy and broker CPU µs per statement, into ${TPS[KEY]} etc.
measure() {
  local key=$1 name=$2 c=$3 dur=$4 p=${PID[$2]} t0=0 k0= k1= out n
  [ -n "$p" ] && t0=$(proxy_ticks "$p")
  KPID=$(broker_pid)
  [ -n "$KPID" ] && k0=$(ticks "$KPID")
  out=$(pgb "$name" -c "$c" -j 2 -T "$dur")
  n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
  [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "bench: pgbench -c $c via $name processed nothing:" >&2; echo "$out" >&2; exit 1; }
  M_TPS=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  if [ -n "$p" ]; then M_CPU=$(python3 -c "print(f'{($(proxy_ticks "$p")-$t0)/$HZ/$n*1e6:.1f}')"); else M_CPU="-"; fi
  [ -n "$KPID" ] && k1=$(ticks "$KPID")
  if [ -n "$k0" ] && [ -n "$k1" ]; then M_KCPU=$(python3 -c "print(f'{($k1-$k0)/$HZ/$n*1e6:.1f}')"); else M_KCPU="?"; fi
}
PATHS=(direct pgbouncer bytecopy gateway pipelined)
for round in $(seq 1 "$ROUNDS"); do
  for name in "${PATHS[@]}"; do
    k="$name/$round"
    log "round $round: pgbench -S -c 8 -j 2 -T $DUR via $name"
    measure "$k" "$name" 8 "$DUR"; TPS[$k]=$M_TPS; CPU[$k]=$M_CPU; KCPU[$k]=$M_KCPU
    log "round $round: pgbench -S -c 64 -j 2 -T $DUR via $name"
    measure "$k" "$name" 64 "$DUR"; TPS64[$k]=$M_TPS; KCPU64[$k]=$M_KCPU
    log "round $round: pgbench -S -c 1 -T $((DUR/2)) via $name"
    out=$(pgb "$name" -c 1 -T $((DUR/2)))
    LAT[$k]=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
  done
  log "round $round: bare franz-go producer, acks=all, to the same broker"
  KB[$round]=$("$WORK/kafkabase" -mode bare -c 1,8,64 -n 4000 -broker-pid "$(broker_pid)")
  log "round $round: the gateway's audit producer alone (group commit), same broker"
  KB[$round]+=$'\n'$("$WORK/kafkabase" -mode audit -c 1,8,64 -n 4000 -broker-pid "$(broker_pid)")
done
log "1M-row SELECT via direct"
ROWS[direct]=$("$WORK/client" -mode rows -n 1000000 -dsn "${DSN[direct]}" | sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p')
log "1M-row SELECT via gateway"
ROWS[gateway]=$("$WORK/client" -mode rows -n 1000000 -dsn "${DSN[gateway]} password=$TOKEN" | sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p')

log "RSS with $IDLE idle gateway connections"
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
mkfifo "$WORK/hold"
r0=$(rss "$GWPID")
"$WORK/client" -mode idle -n "$IDLE" -dsn "${DSN[gateway]} password=$TOKEN" < "$WORK/hold" > "$WORK/idle.out" 2>&1 & IDPID=$!
exec 3>"$WORK/hold"
wait_for "$WORK/idle.out" "open="
sleep 1
r1=$(rss "$GWPID")
exec 3>&-
wait "$IDPID" || true
PERCONN=$(( (r1 - r0) / IDLE ))

METRICS=$(curl -fsS "http://$OPS/metrics")
HITS=$(echo "$METRICS" | awk '/^pangate_gateway_classify_cache_hits_total/{print $2}')
MISS=$(echo "$METRICS" | awk '/^pangate_gateway_classify_cache_misses_total/{print $2}')
ACK=$(echo "$METRICS" | python3 -c '
import sys
s=c=0
for l in sys.stdin:
    if l.startswith("pangate_gateway_audit_ack_seconds_sum"): s=float(l.split()[1])
    if l.startswith("pangate_gateway_audit_ack_seconds_count"): c=float(l.split()[1])
print(f"{s/c*1000:.3f}" if c else "?")')
BATCH=$(echo "$METRICS" | python3 -c '
import sys
s=c=0
for l in sys.stdin:
    if l.startswith("pangate_gateway_audit_batch_records_sum"): s=float(l.split()[1])
    if l.startswith("pangate_gateway_audit_batch_records_count"): c=float(l.split()[1])
print(f"{s/c:.1f} mean over {c:.0f} flushes" if c else "?")')

PROFILE=""
if [ "${BENCH_PROFILE:-1}" = 1 ]; then
  log "CPU profile of the gateway under pgbench -S -c 8"
  pgb gateway -c 8 -j 2 -T 7 >/dev/null & PGBPID=$!
  sleep 1
  curl -fsS -o "$WORK/cpu.pprof" "http://$OPS/debug/pprof/profile?seconds=5"
  wait "$PGBPID" || true
  PROFILE=$(go tool pprof -top -cum -nodecount=30 "$WORK/gateway" "$WORK/cpu.pprof" 2>/dev/null | sed 's/^/    /')
  PROFILE_FLAT=$(go tool pprof -top -nodecount=25 "$WORK/gateway" "$WORK/cpu.pprof" 2>/dev/null | sed -n '/flat%/,$p' | sed 's/^/    /')
  log "CPU profile of the gateway during the 1M-row SELECT"
  "$WORK/client" -mode rows -n 3000000 -dsn "${DSN[gateway]} password=$TOKEN" >/dev/null & RPID=$!
  sleep 1
  curl -fsS -o "$WORK/rows.pprof" "http://$OPS/debug/pprof/profile?seconds=3"
  wait "$RPID" || true
  PROFILE_ROWS=$(go tool pprof -top -cum -nodecount=30 "$WORK/gateway" "$WORK/rows.pprof" 2>/dev/null | sed 's/^/    /')
  # BENCH_KEEP=DIR keeps the profiles and the gateway binary for go tool pprof afterwards.
  if [ -n "${BENCH_KEEP:-}" ]; then mkdir -p "$BENCH_KEEP" && cp "$WORK/gateway" "$WORK"/*.pprof "$BENCH_KEEP"/; fi
fi

r() { python3 -c "print(f'{$1/$2:.2f}')"; }
kb() { echo "${KB[$1]}" | grep "mode=${4:-bare} c=$2 " | sed -n "s/.* $3=\([^ ]*\).*/\1/p"; }
cat <<MD
## Run $(date -u +%Y-%m-%dT%H:%MZ) — $(nproc) cores, pgbench scale $SCALE, ${DUR}s per run, $ROUNDS rounds, kafka.linger ${BENCH_LINGER:-0s}, load average before: $LOAD0

| round | path | TPS -S -c 8 | ÷ direct | TPS -S -c 64 | ÷ direct | proxy CPU µs/stmt | broker CPU µs/stmt (-c 8 / -c 64) | -c 1 latency ms | added ms |
|---|---|---|---|---|---|---|---|---|---|
MD
for round in $(seq 1 "$ROUNDS"); do
  for name in "${PATHS[@]}"; do
    k="$name/$round"; d="direct/$round"
    echo "| $round | $name | ${TPS[$k]} | $(r "${TPS[$k]}" "${TPS[$d]}") | ${TPS64[$k]} | $(r "${TPS64[$k]}" "${TPS64[$d]}") | ${CPU[$k]} | ${KCPU[$k]} / ${KCPU64[$k]} | ${LAT[$k]} | $(python3 -c "print(f'{${LAT[$k]}-${LAT[$d]}:.3f}')") |"
  done
done
cat <<MD

Kafka alone (deploy/bench/kafkabase; same broker, same rounds): "bare" is a franz-go producer (idempotent,
acks=all) whose writers each send one record of a query.executed's size and wait for its acknowledgement;
"audit/group" is the gateway's audit.Producer (sessions' Emit, group commit) with the same writers.

| round | producer | writers | records/s | mean ms | p50 ms | p99 ms | broker CPU µs/record |
|---|---|---|---|---|---|---|---|
MD
for round in $(seq 1 "$ROUNDS"); do
  for m in bare audit/group; do
    for c in 1 8 64; do
      echo "| $round | $m | $c | $(kb "$round" "$c" per_s "$m") | $(kb "$round" "$c" mean_ms "$m") | $(kb "$round" "$c" p50_ms "$m") | $(kb "$round" "$c" p99_ms "$m") | $(kb "$round" "$c" broker_cpu_us "$m") |"
    done
  done
done
echo
for round in $(seq 1 "$ROUNDS"); do
  g="gateway/$round"; b="bytecopy/$round"; d="direct/$round"
  echo "- round $round: gateway CPU/stmt ÷ byte-copy CPU/stmt $(r "${CPU[$g]}" "${CPU[$b]}") (target ≤ 2); strict -c 64 ÷ direct $(r "${TPS64[$g]}" "${TPS64[$d]}") (target ≥ 0.45); -c 1 added $(python3 -c "print(f'{${LAT[$g]}-${LAT[$d]}:.3f}')") ms vs bare acks=all round trip $(kb "$round" 1 mean_ms) ms (target ≤ round trip + 0.1)"
  pp="pipelined/$round"
  echo "- round $round, pipelined reads: -c 8 ÷ direct $(r "${TPS[$pp]}" "${TPS[$d]}") (target ≥ 0.45); -c 1 added $(python3 -c "print(f'{${LAT[$pp]}-${LAT[$d]}:.3f}')") ms (target ≤ 0.3)"
done
cat <<MD
- 1M-row SELECT to a discarding pgx client: direct ${ROWS[direct]} rows/s, gateway ${ROWS[gateway]} rows/s, ratio $(r "${ROWS[gateway]}" "${ROWS[direct]}")
- RSS per idle gateway connection: $PERCONN KiB ($IDLE connections: $r0 → $r1 KiB)
- classify cache: $HITS hits, $MISS misses, hit rate $(python3 -c "print(f'{$HITS/max(1,$HITS+$MISS)*100:.1f}%')")
- mean audit ack latency: $ACK ms; records per group-commit flush: $BATCH
MD
if [ -n "$PROFILE" ]; then
  echo
  echo "Gateway CPU profile (5 s of pgbench -S -c 8, go tool pprof -top):"
  echo
  echo "$PROFILE"
  echo
  echo "The same profile by flat time (where the CPU is spent):"
  echo
  echo "$PROFILE_FLAT"
  echo
  echo "Gateway CPU profile (3 s of a 3M-row SELECT streamed to a discarding client, -cum):"
  echo
  echo "$PROFILE_ROWS"
fi
