package query

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Named SQL for facts and charts, recorded in the manifest with the files they feed.
const (
	CountsSQL = `SELECT event_type, count() AS events
FROM events FINAL
WHERE ` + period + `
GROUP BY event_type
ORDER BY event_type`

	RetentionSQL = `SELECT min(time_us) AS earliest_at, max(time_us) AS latest_at, count() AS rows_including_unmerged_replays
FROM events`

	// PartitionsSQL lists the monthly partitions (PARTITION BY toYYYYMM(time)) with the first and last day
	// that holds an event. It reads the time column of the events table: system.parts' min_date/max_date
	// are 1970-01-01 for a DateTime partition key (issue 15.4), and system.parts may be closed to the
	// reporter user. rows counts unmerged replayed copies too.
	PartitionsSQL = `SELECT toString(toYYYYMM(time)) AS partition, count() AS rows, toString(toDate(min(time))) AS first_day,
       toString(toDate(max(time))) AS last_day
FROM events
GROUP BY partition
ORDER BY partition`

	CardholderByIdentitySQL = `SELECT concat(issuer, ' ', subject) AS identity, count() AS statements
FROM statements FINAL
` + identity + `
WHERE ` + period + ` AND cardholder = 1
GROUP BY identity
ORDER BY statements DESC, identity
LIMIT 15`

	ApprovalOutcomesSQL = `SELECT decision_outcome, count() AS approvals, toInt64(avg(decision_latency_ms)) AS avg_latency_ms, max(decision_latency_ms) AS max_latency_ms
FROM
(
    SELECT approval_id,
           minIf(time_us, event_type = 'approval.requested') AS requested_at,
           argMinIf(decision, time_us, event_type IN ('approval.decided', 'approval.expired')) AS decision_outcome,
           argMinIf(latency_ms, time_us, event_type IN ('approval.decided', 'approval.expired')) AS decision_latency_ms
    FROM approvals FINAL
    WHERE time >= toDateTime({from})
    GROUP BY approval_id
)
WHERE requested_at >= {from_us} AND requested_at < {to_us}
GROUP BY decision_outcome
ORDER BY decision_outcome`

	ApprovalLatencySQL = `SELECT multiIf(latency_ms < 60000, '< 1 min', latency_ms < 300000, '1-5 min', latency_ms < 900000, '5-15 min', latency_ms < 3600000, '15-60 min', '> 1 h') AS bucket,
       min(latency_ms) AS lower_ms, count() AS decisions
FROM approvals FINAL
WHERE ` + period + ` AND event_type = 'approval.decided'
GROUP BY bucket
ORDER BY lower_ms`

	AuthFailuresPerDaySQL = `SELECT toString(toDate(time)) AS day, reason, count() AS failures
FROM auth_events FINAL
WHERE ` + period + ` AND outcome = 'failed'
GROUP BY day, reason
ORDER BY day, reason`

	GatewaysSQL = `SELECT DISTINCT source_instance
FROM events
WHERE ` + period + ` AND event_type IN ('gateway.started', 'gateway.checkpoint', 'gateway.stopped')
ORDER BY source_instance`
)

// StatementsPerDaySQL counts the period's statements per day with their outcome (failures are those
// PostgreSQL answered with an error, the completion's outcome for statements recorded ahead).
var StatementsPerDaySQL = `SELECT toString(toDate(time)) AS day, count() AS statements, countIf(outcome = 'blocked') AS blocked,
       countIf(outcome = 'error') AS errors, countIf(cardholder = 1) AS cardholder
FROM ` + outcomes("1") + `
GROUP BY day
ORDER BY day`

// Retention is what the store holds (PCI DSS 10.5.1).
type Retention struct {
	Earliest   string      `json:"earliest_event"`
	Latest     string      `json:"latest_event"`
	Rows       string      `json:"rows"`
	Partitions []Partition `json:"partitions"`
	Note       string      `json:"note"`
}

// Partition is one monthly partition of the events table.
type Partition struct {
	Partition string `json:"partition"`
	Rows      string `json:"rows"`
	FirstDay  string `json:"first_day"`
	LastDay   string `json:"last_day"`
}

// Retention reads the earliest and latest event and the monthly partitions.
func (db *DB) Retention(ctx context.Context) (*Retention, error) {
	t, err := db.Rows(ctx, RetentionSQL)
	if err != nil {
		return nil, err
	}
	r := &Retention{Note: "PCI DSS 10.5.1 asks for 12 months of history, the last 3 immediately available; the indexer drops whole monthly partitions only after keep_months (>= 12)."}
	if len(t.Rows) == 1 {
		r.Earliest, r.Latest, r.Rows = t.Rows[0][0], t.Rows[0][1], t.Rows[0][2]
	}
	p, err := db.Rows(ctx, PartitionsSQL)
	if err != nil {
		// The earliest/latest facts still stand.
		r.Note += " Partition list unavailable: " + err.Error()
		return r, nil
	}
	for _, row := range p.Rows {
		r.Partitions = append(r.Partitions, Partition{Partition: row[0], Rows: row[1], FirstDay: row[2], LastDay: row[3]})
	}
	return r, nil
}

// Counts returns events per type in the period.
func (db *DB) Counts(ctx context.Context, p Period) (map[string]int64, error) {
	rows, err := db.conn.Query(ctx, p.Render(CountsSQL))
	if err != nil {
		return nil, db.wrap(err, CountsSQL)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var typ string
		var n uint64
		if err := rows.Scan(&typ, &n); err != nil {
			return nil, err
		}
		out[typ] = int64(n)
	}
	return out, rows.Err()
}

// Gateways lists the gateway instances with lifecycle events in the period.
func (db *DB) Gateways(ctx context.Context, p Period) ([]string, error) {
	t, err := db.Rows(ctx, p.Render(GatewaysSQL))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(t.Rows))
	for _, r := range t.Rows {
		out = append(out, r[0])
	}
	return out, nil
}

// Chart is the data of one chart, with the SQL that produced it.
type Chart struct {
	SQL   string
	Table *Table
}

// Charts runs the chart queries.
func (db *DB) Charts(ctx context.Context, p Period) (map[string]Chart, error) {
	out := map[string]Chart{}
	for name, sql := range map[string]string{
		"statements_per_day": StatementsPerDaySQL, "cardholder_by_identity": CardholderByIdentitySQL,
		"approval_outcomes": ApprovalOutcomesSQL, "approval_latency": ApprovalLatencySQL, "auth_failures_per_day": AuthFailuresPerDaySQL,
	} {
		q := p.Render(sql)
		t, err := db.Rows(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", name, err)
		}
		out[name] = Chart{SQL: q, Table: t}
	}
	return out, nil
}

// Since is a helper for callers that report durations.
func Since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

// ReportRecordsSQL lists the report.generated events naming a manifest hash (verify -config).
const ReportRecordsSQL = `SELECT time_us AS ts, source_instance, location, manifest_hash, key_id
FROM lifecycle FINAL
WHERE event_type = 'report.generated' AND manifest_hash = {hash}
ORDER BY ts`

// ReportRecords returns the report.generated events of the store naming manifestHash.
func (db *DB) ReportRecords(ctx context.Context, manifestHash string) ([][]string, error) {
	t, err := db.Rows(ctx, strings.Replace(ReportRecordsSQL, "{hash}", quote(manifestHash), 1))
	if err != nil {
		return nil, err
	}
	return t.Rows, nil
}
