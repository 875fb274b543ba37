package reporter_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/verify"
	"github.com/pangate/pangate/schemas"
)

// eventID returns the id of the event of session at seq.
func (en *env) eventID(session string, seq uint64) string {
	en.t.Helper()
	var id string
	if err := en.ch.QueryRow(context.Background(), "SELECT event_id FROM events FINAL WHERE session = ? AND seq = ?", session, seq).Scan(&id); err != nil {
		en.t.Fatalf("event %s#%d: %v", session, seq, err)
	}
	return id
}

// TestTamperingInClickHouseIsNamed seeds one day through the indexer, checks that a package of the untouched
// store verifies, then tampers as an operator with write access to ClickHouse would (ClickHouse 18.16 has
// no ALTER … UPDATE on these tables: an edit is a delete and a re-insert of a modified row), and checks
// that the integrity report names each case with its session or gateway.
func TestTamperingInClickHouseIsNamed(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	w := knownDay(en, true) // gw-2 goes silent for ten minutes: a logging gap
	en.seed(w.b.Events, w.b.Approvals)
	store := bucket.NewLocal(t.TempDir())
	b := en.builder(store, day0.Add(48*time.Hour))
	ctx := context.Background()

	clean, err := b.Build(ctx, manifest.KindPackage, day0, day0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range clean.Integrity.Findings {
		if f.Kind != integrity.KindLoggingGap {
			t.Fatalf("untouched store has finding %+v", f)
		}
	}
	if gaps := kinds(clean.Integrity, integrity.KindLoggingGap); len(gaps) != 1 || gaps[0].Gateway != "gw-2" {
		t.Fatalf("silent gateway: want one logging gap of gw-2, got %+v", gaps)
	}

	// 1. Edit: s1's first query.executed (seq 3) now claims 0 rows instead of 3.
	edited := en.eventID(w.s1.ID, 3)
	tmp := "tamper_copy"
	en.exec(fmt.Sprintf("CREATE TABLE %s ENGINE = Memory AS SELECT * FROM events WHERE event_id = '%s'", tmp, edited))
	en.exec(fmt.Sprintf("ALTER TABLE events DELETE WHERE event_id = '%s'", edited))
	en.waitMutations()
	en.exec(fmt.Sprintf(`INSERT INTO events SELECT event_id, time, time_us, envelope_version, event_type, session, seq, prev, hash,
		source_instance, source_version, replaceOne(data, '"rows":3', '"rows":0'), replaceOne(record, '"rows":3', '"rows":0'),
		kafka_topic, kafka_partition, kafka_offset, kafka_key, kafka_time_us, ingested_us FROM %s`, tmp))
	// 1b. Edit by insert only (no delete): FINAL would now show the modified copy of s2's credential.issued.
	en.exec(fmt.Sprintf(`INSERT INTO events SELECT event_id, time, time_us, envelope_version, event_type, session, seq, prev, hash,
		source_instance, source_version, replaceAll(data, 'etl_reader', 'cards_admin'), replaceAll(record, 'etl_reader', 'cards_admin'),
		kafka_topic, kafka_partition, kafka_offset, kafka_key, kafka_time_us, ingested_us + 1 FROM events WHERE event_id = '%s'`, en.eventID(w.s2.ID, 1)))
	// 2. Delete one event in the middle of s2 (its blocked COPY, seq 4).
	en.exec(fmt.Sprintf("ALTER TABLE events DELETE WHERE event_id = '%s'", en.eventID(w.s2.ID, 4)))
	// 3. Delete a whole session: s3.
	en.exec(fmt.Sprintf("ALTER TABLE events DELETE WHERE session = '%s'", w.s3.ID))
	// 4. Delete a checkpoint of gw-1 (number 1) from the store.
	var cpID string
	if err := en.ch.QueryRow(ctx, "SELECT event_id FROM checkpoints FINAL WHERE instance = 'gw-1' AND checkpoint_number = 1").Scan(&cpID); err != nil {
		t.Fatal(err)
	}
	en.exec(fmt.Sprintf("ALTER TABLE events DELETE WHERE event_id = '%s'", cpID))
	en.waitMutations()

	res, err := b.Build(ctx, manifest.KindPackage, day0, day0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := res.Integrity
	if r.OK {
		t.Fatal("integrity report OK after tampering")
	}
	expect := []struct {
		kind, session, gateway, what string
	}{
		{integrity.KindEdited, w.s1.ID, "", "edited event"},
		{integrity.KindEdited, w.s2.ID, "", "event edited by inserting a modified copy"},
		{integrity.KindMissing, w.s2.ID, "", "deleted event"},
		{integrity.KindSessionMissing, w.s3.ID, "", "deleted session"},
		{integrity.KindCheckpointMissing, "", "gw-1", "deleted checkpoint"},
		{integrity.KindLoggingGap, "", "gw-2", "silent gateway"},
	}
	for _, e := range expect {
		found := false
		for _, f := range kinds(r, e.kind) {
			if (e.session == "" || f.Session == e.session) && (e.gateway == "" || f.Gateway == e.gateway) && f.Detail != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s not named (want %s for %s%s):\n%s", e.what, e.kind, e.session, e.gateway, findingsText(r))
		}
	}
	// The package itself is intact and signed, and its files say the same.
	if vr := verify.Package(res.Location, en.pub, clean.Location); !vr.OK() {
		t.Fatalf("package does not verify against the previous one: %v", vr.Err())
	}
	if res.Manifest.Previous != clean.ManifestHash {
		t.Fatalf("second package's previous %s, want %s", res.Manifest.Previous, clean.ManifestHash)
	}
	ex := readCSV(t, res.Location, "exceptions.csv")
	if got := strings.Join(col(t, ex, "category"), ","); !strings.Contains(got, "integrity:event_edited") || !strings.Contains(got, "integrity:session_missing") {
		t.Errorf("exceptions lack integrity failures: %s", got)
	}
	if res.Manifest.File("transcripts/"+w.s1.ID+".txt") == nil {
		t.Errorf("no transcript for the session with an edited event")
	}
	// The silent gw-2, and gw-1 around its deleted checkpoint (two intervals without one), are logging gaps.
	gaps := readCSV(t, res.Location, "integrity/10.7-logging-gaps.csv")
	gws := strings.Join(col(t, gaps, "gateway"), ",")
	if len(gaps) != 3 || !strings.Contains(gws, "gw-1") || !strings.Contains(gws, "gw-2") {
		t.Errorf("logging gaps file: %v", gaps)
	}
	_ = schemas.TypeGatewayCheckpoint
}

func kinds(r *integrity.Report, kind string) []integrity.Finding {
	var out []integrity.Finding
	for _, f := range r.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

func findingsText(r *integrity.Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %s %s gw=%s session=%s seq=%s: %s\n", f.Severity, f.Kind, f.Gateway, f.Session, f.Seq, f.Detail)
	}
	return b.String()
}
