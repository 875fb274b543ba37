package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/schemas"
)

// catchUp stops the gateway (so its session, credential and run end events are written), counts what was
// produced to Kafka, and waits until the indexer has written all of it to ClickHouse.
func (d *demo) catchUp(ctx context.Context) error {
	d.step("stop the gateway gracefully and wait until the indexer has every event in ClickHouse")
	d.gateway.stop()
	fmt.Println("   gateway stopped")
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, d.prefix+schemas.TopicAudit, d.prefix+schemas.TopicApprovals, d.prefix+schemas.TopicDecisions,
		d.prefix+schemas.TopicOperations)
	if err != nil {
		return fmt.Errorf("count produced events: %w", err)
	}
	ends.Each(func(o kadm.ListedOffset) { d.produced += o.Offset })
	fmt.Printf("   %d events produced; waiting for ClickHouse\n", d.produced)
	ch, err := d.clickhouse("auditor", d.env["PANGATE_CLICKHOUSE_AUDITOR_PASSWORD"])
	if err != nil {
		return err
	}
	defer ch.Close()
	deadline := time.Now().Add(2 * time.Minute)
	var indexed uint64
	for {
		err := ch.QueryRow(ctx, "SELECT count() FROM "+d.chDatabase+".events FINAL").Scan(&indexed)
		if err == nil && int64(indexed) >= d.produced {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("indexer has %d of %d events after 2 minutes (last error %v); see %s/logs/indexer.log", indexed, d.produced, err, d.dir)
		}
		time.Sleep(250 * time.Millisecond)
	}
	fmt.Printf("   %d events produced to Kafka, %d in ClickHouse\n", d.produced, indexed)
	return nil
}

func (d *demo) clickhouse(user, password string) (driver.Conn, error) {
	return d.clickhouseDB(d.chDatabase, user, password)
}

func (d *demo) clickhouseDB(db, user, password string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{d.env["PANGATE_CLICKHOUSE_ADDR"]},
		Auth:        clickhouse.Auth{Database: db, Username: user, Password: password},
		DialTimeout: 5 * time.Second,
		ReadTimeout: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("ClickHouse %s as %s: %w", d.env["PANGATE_CLICKHOUSE_ADDR"], user, err)
	}
	return conn, nil
}

// figures are what the demo prints, read back from ClickHouse with the auditors' SQL.
type figures struct {
	sessions, statements, blocked, cardholderReads, masked, authFailures uint64
	approvals                                                            []string
	approved, denied                                                     uint64
	jobStatements                                                        uint64
}

func (d *demo) figures(ctx context.Context, ch driver.Conn) (figures, error) {
	var f figures
	db := d.chDatabase
	one := func(dst *uint64, q string) error {
		if err := ch.QueryRow(ctx, q).Scan(dst); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		return nil
	}
	for _, q := range []struct {
		dst *uint64
		sql string
	}{
		{&f.sessions, "SELECT count() FROM " + db + ".sessions FINAL"},
		{&f.statements, "SELECT count() FROM " + db + ".statements FINAL WHERE event_type = 'query.executed'"},
		{&f.blocked, "SELECT count() FROM " + db + ".statements FINAL WHERE event_type = 'query.blocked'"},
		{&f.cardholderReads, "SELECT count() FROM " + db + ".statements FINAL WHERE cardholder = 1"},
		{&f.masked, "SELECT toUInt64(sum(masked_total)) FROM " + db + ".statements FINAL"},
		{&f.authFailures, "SELECT count() FROM " + db + ".events FINAL WHERE event_type = 'auth.failed'"},
		{&f.approved, "SELECT count() FROM " + db + ".approvals FINAL WHERE event_type = 'approval.decided' AND kafka_topic LIKE '%pangate.decisions' AND decision = 'approved'"},
		{&f.denied, "SELECT count() FROM " + db + ".approvals FINAL WHERE event_type = 'approval.decided' AND kafka_topic LIKE '%pangate.decisions' AND decision = 'denied'"},
		{&f.jobStatements, "SELECT count() FROM " + db + ".statements FINAL WHERE session IN (SELECT session FROM " + db + ".sessions FINAL WHERE application = 'tot-nightly')"},
	} {
		if err := one(q.dst, q.sql); err != nil {
			return f, err
		}
	}
	rows, err := ch.Query(ctx, "SELECT decision, decided_by_email, toInt64(latency_ms), reason FROM "+db+".approvals FINAL WHERE event_type = 'approval.decided' AND kafka_topic NOT LIKE '%pangate.audit' ORDER BY time_us")
	if err != nil {
		return f, err
	}
	defer rows.Close()
	for rows.Next() {
		var decision, by, reason string
		var latency int64
		if err := rows.Scan(&decision, &by, &latency, &reason); err != nil {
			return f, err
		}
		f.approvals = append(f.approvals, fmt.Sprintf("%s by %s after %.1fs: %q", decision, by, float64(latency)/1000, reason))
	}
	return f, rows.Err()
}

var digitRun = regexp.MustCompile(`[0-9]{12,19}`)

// leaks returns every seeded PAN found in full in texts.
func (d *demo) leaks(texts ...string) []string {
	pans := make(map[string]bool, len(d.seeded.PANs))
	for _, p := range d.seeded.PANs {
		pans[p] = true
	}
	var found []string
	for _, t := range texts {
		t = strings.NewReplacer(" ", "", "-", "").Replace(t)
		for _, run := range digitRun.FindAllString(t, -1) {
			for l := 12; l <= len(run); l++ {
				for i := 0; i+l <= len(run); i++ {
					if pans[run[i:i+l]] {
						found = append(found, run[i : i+l][:6]+"…")
					}
				}
			}
		}
	}
	return found
}

var errMismatch = errors.New("demo: printed figures do not match ClickHouse")
