package reporter_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/build"
	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/schemas"
)

// clickHouseHTTP is the stack's ClickHouse HTTP interface (PANGATE_CLICKHOUSE_HTTP_ADDR, from the
// environment or .stack/env).
func clickHouseHTTP(t testing.TB) string {
	t.Helper()
	addr := stack.Env(t).ClickHouseHTTPAddr
	if addr == "" {
		t.Fatalf("PANGATE_CLICKHOUSE_HTTP_ADDR is in neither the environment nor .stack/env: restart the stack with %s", stack.StartCommand)
	}
	return addr
}

// TestIntegrityOverHTTPMatchesNative: issue 16.4, the raw records streamed over ClickHouse's HTTP
// interface (RowBinary, clickhouse.http_addr) give the integrity report the native protocol gives, on a
// store with an edited event, a modified copy of another, a deleted event and a deleted session, in
// ranges small enough that several are read at once.
func TestIntegrityOverHTTPMatchesNative(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	w := knownDay(en, false)
	en.seed(w.b.Events, w.b.Approvals)
	ctx := context.Background()
	edited := en.eventID(w.s1.ID, 3)
	tmp := "tamper_http"
	en.exec(fmt.Sprintf("CREATE TABLE %s ENGINE = Memory AS SELECT * FROM events WHERE event_id = '%s'", tmp, edited))
	en.exec(fmt.Sprintf("ALTER TABLE events DELETE WHERE event_id = '%s'", edited))
	en.waitMutations()
	en.exec(fmt.Sprintf(`INSERT INTO events SELECT event_id, time, time_us, envelope_version, event_type, session, seq, prev, hash,
		source_instance, source_version, replaceOne(data, '"rows":3', '"rows":0'), replaceOne(record, '"rows":3', '"rows":0'),
		kafka_topic, kafka_partition, kafka_offset, kafka_key, kafka_time_us, ingested_us FROM %s`, tmp))
	en.exec(fmt.Sprintf(`INSERT INTO events SELECT event_id, time, time_us, envelope_version, event_type, session, seq, prev, hash,
		source_instance, source_version, replaceAll(data, 'etl_reader', 'cards_admin'), replaceAll(record, 'etl_reader', 'cards_admin'),
		kafka_topic, kafka_partition, kafka_offset, kafka_key, kafka_time_us, ingested_us + 1 FROM events WHERE event_id = '%s'`, en.eventID(w.s2.ID, 1)))
	en.exec(fmt.Sprintf("ALTER TABLE events DELETE WHERE event_id = '%s'", en.eventID(w.s2.ID, 4)))
	en.exec(fmt.Sprintf("ALTER TABLE events DELETE WHERE session = '%s'", w.s3.ID))
	en.waitMutations()

	report := func(httpAddr string) *integrity.Report {
		t.Helper()
		q, err := query.New(ctx, en.ch, query.Config{Addr: en.ep.ClickHouseAddr, Database: en.db, User: en.ep.ClickHouseUser,
			Password: en.ep.ClickHousePassword, HTTPAddr: httpAddr, Readers: 2})
		if err != nil {
			t.Fatal(err)
		}
		b, err := build.New(build.Config{Version: "test", GatewayKeys: map[string]ed25519.PublicKey{schemas.KeyID(en.pub): en.pub}, Chunk: 5,
			Now: func() time.Time { return day0.Add(48 * time.Hour) }}, q, bucket.NewLocal(t.TempDir()), en.key, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.Build(ctx, manifest.KindPackage, day0, day0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return res.Integrity
	}
	native, overHTTP := report(""), report(clickHouseHTTP(t))
	if native.OK || native.Events == 0 {
		t.Fatalf("native report of a tampered store: ok=%v, %d events", native.OK, native.Events)
	}
	for _, want := range []struct{ kind, session string }{
		{integrity.KindEdited, w.s1.ID}, {integrity.KindEdited, w.s2.ID}, {integrity.KindMissing, w.s2.ID}, {integrity.KindSessionMissing, w.s3.ID},
	} {
		found := false
		for _, f := range kinds(overHTTP, want.kind) {
			found = found || f.Session == want.session
		}
		if !found {
			t.Errorf("over HTTP: no %s for %s:\n%s", want.kind, want.session, findingsText(overHTTP))
		}
	}
	if !reflect.DeepEqual(native, overHTTP) {
		t.Fatalf("reports differ:\nnative %+v\nhttp   %+v\nnative findings:\n%s\nhttp findings:\n%s", native, overHTTP, findingsText(native), findingsText(overHTTP))
	}
}
