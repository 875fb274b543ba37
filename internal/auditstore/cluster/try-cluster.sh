#!/usr/bin/env bash
# Runs the cluster DDL on a real ClickHouse cluster on loopback, by hand (not part of CI: it needs
# ZooKeeper, which the local stack does not have). It starts ZooKeeper (jars from Maven Central) and three
# ClickHouse 18.16 servers (cluster "pangate": shard 1 = two replicas, shard 2 = one), applies
# internal/auditstore/cluster/NNNN_*.sql in version order with ON CLUSTER, and checks:
#   1. every node has the Replicated *_local and the Distributed tables;
#   2. an event inserted twice through the Distributed table (a replay, insert_distributed_sync=1) is one row
#      with FINAL, and shard 1's second replica receives the rows;
#   3. the indexer's own migration (go run ./indexer -migrate-only) finds every table, records its version
#      and creates no single-node table;
#   4. a reporter-style query (IN subquery + JOIN over Distributed tables) is refused with ClickHouse's default
#      distributed_product_mode=deny and correct with distributed_product_mode=global;
#   5. every query of the auditors' cookbook (indexer/cookbook/queries) runs on the cluster.
# Usage, from the repository root, as root (ClickHouse runs as user clickhouse, as in deploy/local):
#   bash internal/auditstore/cluster/try-cluster.sh
# Ports: ZooKeeper $BASE+181, ClickHouse native $BASE+1..3, http $BASE+11..13, interserver $BASE+21..23.
set -euo pipefail

BASE=${BASE:-29000}
WORK=${WORK:-$(mktemp -d /tmp/pangate-chcluster.XXXXXX)}
chmod 755 "$WORK" # ClickHouse runs as user clickhouse and must reach its directories
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
ZKPORT=$((BASE + 181))
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "work directory kept: $WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
q() { local n=$1; shift; clickhouse-client --port $((BASE + n)) "$@"; }

# --- ZooKeeper from Maven Central ---
mkdir -p "$WORK/zk/data"
cat > "$WORK/zk/pom.xml" <<'EOF'
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>zk</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.zookeeper</groupId><artifactId>zookeeper</artifactId><version>3.8.4</version></dependency>
    <dependency><groupId>io.dropwizard.metrics</groupId><artifactId>metrics-core</artifactId><version>4.1.12.1</version></dependency>
    <dependency><groupId>org.xerial.snappy</groupId><artifactId>snappy-java</artifactId><version>1.1.10.5</version></dependency>
    <dependency><groupId>ch.qos.logback</groupId><artifactId>logback-classic</artifactId><version>1.2.13</version></dependency>
  </dependencies>
</project>
EOF
(cd "$WORK/zk" && mvn -q dependency:copy-dependencies -DoutputDirectory=lib)
cat > "$WORK/zk/zoo.cfg" <<EOF
tickTime=2000
dataDir=$WORK/zk/data
clientPort=$ZKPORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok
EOF
java -Xmx256m -cp "$WORK/zk/lib/*" org.apache.zookeeper.server.ZooKeeperServerMain "$WORK/zk/zoo.cfg" > "$WORK/zk/zk.log" 2>&1 &
PIDS+=($!)

# --- three ClickHouse servers ---
cat > "$WORK/users.xml" <<'EOF'
<yandex>
  <profiles>
    <default></default>
    <indexer><insert_distributed_sync>1</insert_distributed_sync></indexer>
  </profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
    <indexer><password></password><networks><ip>127.0.0.1</ip></networks><profile>indexer</profile><quota>default</quota></indexer>
  </users>
  <quotas><default></default></quotas>
</yandex>
EOF
chmod 644 "$WORK/users.xml"
for i in 1 2 3; do
	shard=01; [ "$i" = 3 ] && shard=02
	d="$WORK/n$i"
	mkdir -p "$d/data" "$d/tmp" "$d/log" "$d/uf" "$d/fs"
	cat > "$d/config.xml" <<EOF
<yandex>
  <logger><level>information</level><log>$d/log/server.log</log><errorlog>$d/log/err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$((BASE + i))</tcp_port>
  <http_port>$((BASE + 10 + i))</http_port>
  <interserver_http_port>$((BASE + 20 + i))</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>$d/data/</path><tmp_path>$d/tmp/</tmp_path><user_files_path>$d/uf/</user_files_path><format_schema_path>$d/fs/</format_schema_path>
  <users_config>$WORK/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database><timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <mark_cache_size>67108864</mark_cache_size>
  <remote_servers>
    <pangate>
      <shard><internal_replication>true</internal_replication>
        <replica><host>127.0.0.1</host><port>$((BASE + 1))</port></replica>
        <replica><host>127.0.0.1</host><port>$((BASE + 2))</port></replica>
      </shard>
      <shard><internal_replication>true</internal_replication>
        <replica><host>127.0.0.1</host><port>$((BASE + 3))</port></replica>
      </shard>
    </pangate>
  </remote_servers>
  <macros><shard>$shard</shard><replica>n$i</replica></macros>
  <zookeeper><node><host>127.0.0.1</host><port>$ZKPORT</port></node></zookeeper>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</yandex>
EOF
	chown -R clickhouse:clickhouse "$d"
	setpriv --reuid=clickhouse --regid=clickhouse --init-groups /usr/sbin/clickhouse-server --config-file="$d/config.xml" > "$d/out.log" 2>&1 &
	PIDS+=($!)
done

wait_for() { # what, command...
	local what=$1; shift
	for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
	fail "$what did not come up within 60s"
}
wait_for zookeeper bash -c "echo ruok | timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$ZKPORT; cat >&3; cat <&3' | grep -q imok"
for i in 1 2 3; do
	wait_for "clickhouse n$i" q "$i" -q "SELECT 1"
	# ON CLUSTER DDL right after start can find the server without its ZooKeeper session yet.
	wait_for "n$i's ZooKeeper session" q "$i" -q "SELECT count() FROM system.zookeeper WHERE path = '/'"
done

# --- 1. the DDL, ON CLUSTER ---
for f in "$ROOT"/internal/auditstore/cluster/[0-9][0-9][0-9][0-9]_*.sql; do
	q 1 --multiquery < "$f" >> "$WORK/ddl.out"
done
for i in 1 2 3; do
	got=$(q "$i" -q "SELECT countIf(engine = 'Distributed'), countIf(engine LIKE 'Replicated%'), countIf(engine = 'View') FROM system.tables WHERE database = 'pangate' FORMAT TSV")
	[ "$got" = "$(printf '13\t13\t1')" ] || fail "n$i: Distributed/Replicated tables and views: $got, want 13, 13 and 1 (statement_outcomes)"
done
echo "ok 1: 13 Replicated *_local and 13 Distributed tables and the statement_outcomes view on each of 3 nodes"

# --- 2. a replay through the Distributed table ---
for rep in 1 2; do
	q 1 --user indexer -q "INSERT INTO pangate.events (event_id, time, time_us, session, seq, ingested_us) VALUES
	  ('e1', now(), 1, 's1', 0, $rep), ('e2', now(), 2, 's1', 1, $rep), ('e3', now(), 3, 's2', 0, $rep),
	  ('e4', now(), 4, 's3', 0, $rep), ('e5', now(), 5, 's4', 0, $rep), ('e6', now(), 6, 's5', 0, $rep)"
done
[ "$(q 1 -q 'SELECT count() FROM pangate.events FINAL')" = 6 ] || fail "events FINAL is not 6"
s1=$(q 1 -q "SELECT count() FROM pangate.events_local"); s2=$(q 3 -q "SELECT count() FROM pangate.events_local")
[ $((s1 + s2)) = 12 ] && [ "$s1" -gt 0 ] && [ "$s2" -gt 0 ] || fail "rows per shard $s1 + $s2, want 12 over both shards"
wait_for "replication to n2" bash -c "[ \"\$(clickhouse-client --port $((BASE + 2)) -q 'SELECT count() FROM pangate.events_local')\" = $s1 ]"
echo "ok 2: a replayed insert is 12 raw rows ($s1 on shard 1, $s2 on shard 2), 6 with FINAL; shard 1's replica caught up"

# --- 3. the indexer's own migration on top ---
(cd "$ROOT" && PANGATE_INDEXER_KAFKA_BROKERS=127.0.0.1:1 PANGATE_INDEXER_CLICKHOUSE_ADDRS=127.0.0.1:$((BASE + 1)) \
	PANGATE_INDEXER_CLICKHOUSE_USER=default PANGATE_INDEXER_MIGRATE_USER=default go run ./indexer -migrate-only) > "$WORK/migrate.log" 2>&1 ||
	fail "indexer -migrate-only: $(cat "$WORK/migrate.log")"
got=$(q 1 -q "SELECT countIf(engine = 'Distributed'), countIf(engine LIKE 'Replicated%'), count() FROM system.tables WHERE database = 'pangate' FORMAT TSV")
[ "$got" = "$(printf '13\t13\t27')" ] || fail "after the indexer's migration: $got"
wait_for "schema_migrations" bash -c "[ \"\$(clickhouse-client --port $((BASE + 1)) -q 'SELECT max(version) FROM pangate.schema_migrations')\" = 2 ]"
echo "ok 3: indexer -migrate-only recorded version 2 and created no single-node table"

# --- 4. reporter-style distributed subqueries ---
Q="SELECT count() FROM pangate.events FINAL ANY LEFT JOIN (SELECT session, seq AS s FROM pangate.events FINAL) USING session WHERE session IN (SELECT session FROM pangate.events)"
if q 1 -q "$Q" > /dev/null 2>&1; then fail "double-distributed query accepted with distributed_product_mode=deny"; fi
[ "$(q 1 --distributed_product_mode=global -q "$Q")" = 6 ] || fail "global: wrong count"
echo "ok 4: IN/JOIN over Distributed tables need distributed_product_mode=global (refused with the default deny)"

# --- 5. the auditors' cookbook runs unchanged on the cluster ---
n=0
for f in "$ROOT"/indexer/cookbook/queries/*.sql; do
	q 1 --database pangate --distributed_product_mode=global --multiquery < "$f" > /dev/null 2> "$WORK/cookbook.err" ||
		fail "cookbook $(basename "$f"): $(head -c 300 "$WORK/cookbook.err")"
	n=$((n + 1))
done
need=0
for f in "$ROOT"/indexer/cookbook/queries/*.sql; do
	q 1 --database pangate --multiquery < "$f" > /dev/null 2>&1 || need=$((need + 1))
done
echo "ok 5: all $n cookbook queries (indexer/cookbook/queries) run on the cluster ($need of them only with distributed_product_mode=global)"
echo "PASS"
