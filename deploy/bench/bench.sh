#!/usr/bin/env bash
# pangate gateway benchmark: direct PostgreSQL, pgbouncer, a byte-copy proxy and the gateway (auditing to
# the real Kafka broker), side by side in one run on the local stack (`go tool task up` first).
#
#   deploy/bench/bench.sh            # BENCH_SECONDS=10 per pgbench run, BENCH_SCALE=10, BENCH_IDLE=200
#
# Prints a Markdown report (the source of BENCHMARKS.md). Needs psql, pgbench, pgbouncer (Debian
# package), curl and python3. Traffic stays on loopback.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
set -a; . .stack/env; set +a
DUR=${BENCH_SECONDS:-10}
SCALE=${BENCH_SCALE:-10}
IDLE=${BENCH_IDLE:-200}
WORK=$(mktemp -d /tmp/pangate-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
log() { echo "bench: $*" >&2; }

log "building"
go build -o "$WORK/gateway" ./gateway
go build -o "$WORK/bytecopy" ./deploy/bench/bytecopy
go build -o "$WORK/client" ./deploy/bench/client
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

log "starting the gateway"
"$WORK/gateway" keygen -out "$WORK/checkpoint.pem" >/dev/null
cat > "$WORK/gateway.yaml" <<YAML
instance: bench
listen: 127.0.0.1:0
allow_plaintext_loopback: true
limits: {max_connections: 2000}
targets:
  - {name: pg, host: "$PANGATE_PG_HOST", port: $PANGATE_PG_PORT, database: $DB, sslmode: disable, admin_dsn: "$ADMIN"}
kafka: {brokers: [$PANGATE_KAFKA_BROKERS], topic_prefix: "bench.$$.", ack_timeout: 5s, linger: ${BENCH_LINGER:-0s}}
checkpoint: {interval: 60s, key_file: "$WORK/checkpoint.pem"}
auth:
  issuers: [{url: "$ISS", audiences: [pangate-bench]}]
ops: {listen: "127.0.0.1:0"}
YAML
"$WORK/gateway" run -config "$WORK/gateway.yaml" 2>"$WORK/gateway.log" & GWPID=$!; PIDS+=($GWPID)
wait_for "$WORK/gateway.log" '"gateway serving"'
GWPORT=$(grep '"gateway serving"' "$WORK/gateway.log" | python3 -c 'import json,sys;print(json.loads(sys.stdin.readline())["listen"].rsplit(":",1)[1])')
OPS=$(grep '"ops serving"' "$WORK/gateway.log" | python3 -c 'import json,sys;print(json.loads(sys.stdin.readline())["addr"])')

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

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
KPID=$(pgrep -f 'kafka.Kafka' | head -1 || true)

declare -A DSN=(
  [direct]="$BDSN"
  [pgbouncer]="host=127.0.0.1 port=$PBPORT user=$PGUSER_ dbname=$DB sslmode=disable"
  [bytecopy]="host=127.0.0.1 port=$BCPORT user=$PGUSER_ password=$PGPASS_ dbname=$DB sslmode=disable"
  [gateway]="host=127.0.0.1 port=$GWPORT user=bench_reader@pg dbname=$DB sslmode=disable"
)
declare -A PID=([direct]="" [pgbouncer]=$PBPID [bytecopy]=$BCPID [gateway]=$GWPID)
declare -A TPS LAT CPU KCPU ROWS

pgb() { # name args...
  local name=$1; shift
  PGPASSWORD=$TOKEN pgbench -n -S "$@" "${DSN[$name]}" 2>/dev/null
}
for name in direct pgbouncer bytecopy gateway; do
  log "pgbench -S -c 8 -j 2 -T $DUR via $name"
  p=${PID[$name]}; t0=0; k0=0
  [ -n "$p" ] && t0=$(ticks "$p")
  [ -n "$KPID" ] && k0=$(ticks "$KPID")
  out=$(pgb "$name" -c 8 -j 2 -T "$DUR")
  TPS[$name]=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
  if [ -n "$p" ]; then CPU[$name]=$(python3 -c "print(f'{($(ticks "$p")-$t0)/$HZ/$n*1e6:.1f}')"); else CPU[$name]="-"; fi
  if [ -n "$KPID" ]; then KCPU[$name]=$(python3 -c "print(f'{($(ticks "$KPID")-$k0)/$HZ/$n*1e6:.1f}')"); else KCPU[$name]="?"; fi
  log "pgbench -S -c 1 -T $((DUR/2)) via $name"
  out=$(pgb "$name" -c 1 -T $((DUR/2)))
  LAT[$name]=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
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

PROFILE=""
if [ "${BENCH_PROFILE:-1}" = 1 ]; then
  log "CPU profile of the gateway under pgbench -S -c 8"
  pgb gateway -c 8 -j 2 -T 7 >/dev/null & PGBPID=$!
  sleep 1
  curl -fsS -o "$WORK/cpu.pprof" "http://$OPS/debug/pprof/profile?seconds=5"
  wait "$PGBPID" || true
  PROFILE=$(go tool pprof -top -cum -nodecount=30 "$WORK/gateway" "$WORK/cpu.pprof" 2>/dev/null | sed 's/^/    /')
  log "CPU profile of the gateway during the 1M-row SELECT"
  "$WORK/client" -mode rows -n 3000000 -dsn "${DSN[gateway]} password=$TOKEN" >/dev/null & RPID=$!
  sleep 1
  curl -fsS -o "$WORK/rows.pprof" "http://$OPS/debug/pprof/profile?seconds=3"
  wait "$RPID" || true
  PROFILE_ROWS=$(go tool pprof -top -cum -nodecount=30 "$WORK/gateway" "$WORK/rows.pprof" 2>/dev/null | sed 's/^/    /')
fi

r() { python3 -c "print(f'{$1/$2:.2f}')"; }
cat <<MD
## Run $(date -u +%Y-%m-%dT%H:%MZ) — $(nproc) cores, pgbench scale $SCALE, ${DUR}s per run, kafka.linger ${BENCH_LINGER:-0s}

| path | TPS -S -c 8 -j 2 | ratio to direct | proxy CPU µs/stmt | broker CPU µs/stmt | -c 1 latency ms | added ms |
|---|---|---|---|---|---|---|
MD
for name in direct pgbouncer bytecopy gateway; do
  echo "| $name | ${TPS[$name]} | $(r "${TPS[$name]}" "${TPS[direct]}") | ${CPU[$name]} | ${KCPU[$name]} | ${LAT[$name]} | $(python3 -c "print(f'{${LAT[$name]}-${LAT[direct]}:.3f}')") |"
done
cat <<MD

- 1M-row SELECT to a discarding pgx client: direct ${ROWS[direct]} rows/s, gateway ${ROWS[gateway]} rows/s, ratio $(r "${ROWS[gateway]}" "${ROWS[direct]}")
- gateway CPU per statement / byte-copy CPU per statement: $(r "${CPU[gateway]}" "${CPU[bytecopy]}")
- RSS per idle gateway connection: $PERCONN KiB ($IDLE connections: $r0 → $r1 KiB)
- classify cache: $HITS hits, $MISS misses, hit rate $(python3 -c "print(f'{$HITS/max(1,$HITS+$MISS)*100:.1f}%')")
- mean audit ack latency: $ACK ms
MD
if [ -n "$PROFILE" ]; then
  echo
  echo "Gateway CPU profile (5 s of pgbench -S -c 8, go tool pprof -top):"
  echo
  echo "$PROFILE"
  echo
  echo "Gateway CPU profile (3 s of a 3M-row SELECT streamed to a discarding client, -cum):"
  echo
  echo "$PROFILE_ROWS"
fi
