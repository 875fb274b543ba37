-- pangate audit store, schema version 2: the outcome of every statement (event contract version 2,
-- query.completed; docs/evidence.md "Statement outcomes").
--
-- A statement the gateway records ahead (writes, DDL, COPY both ways, utility: everything not proven free of
-- side effects) is a query.executed row in statements with outcome 'forwarded', followed in the same session
-- by a query.completed event naming it (intent_seq = the query.executed's seq) with what PostgreSQL answered.
-- completions holds those events; the view statement_outcomes puts each completion's outcome on its
-- statement, so auditors read one row per statement with its real outcome, rows, masked counts and sample.
-- Same conventions as 0001_init.sql (ReplacingMergeTree keyed by event_id, read with FINAL; ClickHouse 18.16
-- and current releases alike).

-- completions: one row per query.completed (the outcome of a statement recorded ahead).
CREATE TABLE IF NOT EXISTS completions
(
    event_id          String,          -- the query.completed event's id
    time              DateTime('UTC'),
    time_us           UInt64,          -- when the outcome was recorded (PostgreSQL answered)
    session           String,
    seq               UInt64,          -- the query.completed event's own seq
    gateway_instance  String,
    intent_seq        UInt64,          -- seq of the query.executed (outcome forwarded) it completes
    stmt_index        Int64,           -- the statement's number within the session (statements.stmt_index)
    kind              String,          -- the statement's kind
    outcome           String,          -- ok, error, skipped (not run: an earlier statement of its batch failed or the session ended)
    sqlstate          String,
    error             String,          -- masked error text
    command_tag       String,          -- e.g. COPY 20, UPDATE 3
    row_count         Int64,           -- rows returned, or affected as the command tag says
    duration_us       Int64,
    mask_shape        String,
    masked_columns    Array(String),   -- masked-value counts per column …
    masked_counts     Array(Int64),    -- … parallel to masked_columns
    masked_total      Int64,           -- sum of masked_counts
    sample            String           -- capped masked result sample, JSON ("" if none)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (session, intent_seq, event_id);

-- statement_outcomes: every row of statements with its outcome. For a statement recorded ahead that has a
-- completion, outcome, sqlstate, error, command_tag, row_count, duration_us, mask_shape, masked_*, sample are
-- the completion's and intent_outcome is 'forwarded'; without one (written by a gateway before contract
-- version 2, or the session was lost before its outcome) outcome stays 'forwarded' and completion_event_id
-- is ''. Every other statement (side-effect-free reads, blocked) is shown as stored. Both tables are read
-- with FINAL inside, so each statement and each completion counts once. Filter it like a table
-- (SELECT … FROM statement_outcomes WHERE …); ClickHouse 18.16 reads the whole of both tables first, so
-- narrow by time in the query when the store is large.
CREATE VIEW IF NOT EXISTS statement_outcomes AS
SELECT
    event_id, time, time_us, session, seq, gateway_instance, event_type, stmt_index, sql, fingerprint, params, kind,
    tables, columns, cardholder, risk_tags, risk_score, protocol, role,
    if(completion_event_id = '', s_outcome, c_outcome) AS outcome,
    if(completion_event_id = '', s_sqlstate, c_sqlstate) AS sqlstate,
    if(completion_event_id = '', s_error, c_error) AS error,
    if(completion_event_id = '', s_command_tag, c_command_tag) AS command_tag,
    if(completion_event_id = '', s_row_count, c_row_count) AS row_count,
    if(completion_event_id = '', s_duration_us, c_duration_us) AS duration_us,
    if(completion_event_id = '', s_mask_shape, c_mask_shape) AS mask_shape,
    if(completion_event_id = '', s_masked_columns, c_masked_columns) AS masked_columns,
    if(completion_event_id = '', s_masked_counts, c_masked_counts) AS masked_counts,
    if(completion_event_id = '', s_masked_total, c_masked_total) AS masked_total,
    if(completion_event_id = '', s_sample, c_sample) AS sample,
    rule, block_reason, approval_id, approval_decision, approval_by,
    s_outcome AS intent_outcome,
    completion_event_id,
    completed_us
FROM
(
    SELECT event_id, time, time_us, session, seq, gateway_instance, event_type, stmt_index, sql, fingerprint, params, kind,
           tables, columns, cardholder, risk_tags, risk_score, protocol, role, outcome AS s_outcome, sqlstate AS s_sqlstate,
           error AS s_error, command_tag AS s_command_tag, row_count AS s_row_count, duration_us AS s_duration_us,
           mask_shape AS s_mask_shape, masked_columns AS s_masked_columns, masked_counts AS s_masked_counts,
           masked_total AS s_masked_total, sample AS s_sample, rule, block_reason, approval_id, approval_decision, approval_by
    FROM statements FINAL
)
ANY LEFT JOIN
(
    SELECT session, intent_seq AS seq, event_id AS completion_event_id, time_us AS completed_us,
           outcome AS c_outcome, sqlstate AS c_sqlstate, error AS c_error, command_tag AS c_command_tag,
           row_count AS c_row_count, duration_us AS c_duration_us, mask_shape AS c_mask_shape,
           masked_columns AS c_masked_columns, masked_counts AS c_masked_counts, masked_total AS c_masked_total,
           sample AS c_sample
    FROM completions FINAL
) USING session, seq;
