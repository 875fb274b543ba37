-- pangate audit store, schema version 1.
--
-- Applied by the indexer at start (package internal/auditstore/migrate) as the ClickHouse operator, into the database
-- named by the indexer's `database` setting (default `pangate`); statements use unqualified table names so the
-- same file serves every database. Each statement is idempotent (IF NOT EXISTS); the runner records the
-- version in schema_migrations only after all statements succeeded, so a crash mid-migration is repaired by
-- the next start.
--
-- Written for ClickHouse 18.16 and unchanged on current releases: no DateTime64, Map, JSON, Bool,
-- LowCardinality, TTL, CODEC or skip indexes. Conventions, in every table:
--   * time        DateTime('UTC')  the event's time, second precision, for partitioning and range filters;
--     time_us     UInt64           the same instant in microseconds since the Unix epoch (exact value).
--     Other instants follow the same pattern: <name>_us UInt64 (0 = absent).
--   * maps are two parallel Array(String) columns <name>_keys / <name>_values;
--     booleans are UInt8 (0/1); nested JSON is kept as String.
--   * event_id is the envelope id (UUIDv7 text). It is the deduplication key.
--
-- EXACTLY ONCE (design invariant 6). The indexer delivers at least once: it commits Kafka offsets only after
-- every table of a batch is written, so a crash replays the batch. Every table is a ReplacingMergeTree whose
-- sorting key ends with event_id (dead_letters: topic, partition, offset) and whose other key columns are
-- derived from the event alone, so a replayed row is an exact key duplicate. Background merges collapse
-- duplicates eventually; queries see exactly one row per event NOW by reading with FINAL
-- (`SELECT … FROM statements FINAL WHERE …`) — every query in docs/auditors.md does. Never count without
-- FINAL (or without GROUP BY event_id / uniqExact(event_id)).
--
-- Partitioning is by month of the event time (toYYYYMM(time)); retention drops whole monthly partitions older
-- than the configured months (at least 12, PCI DSS 10.5.1) and records each drop as a retention.dropped event.
--
-- Table and column names are a contract with the reporter and the auditors' cookbook: never rename; add
-- columns in a new migration (the runner skips ALTER TABLE … ADD COLUMN when system.columns has the column).

-- schema_migrations: one row per applied migration version (written by internal/auditstore/migrate).
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version     UInt32,          -- migration number (file prefix)
    name        String,          -- file name
    checksum    String,          -- hex SHA-256 of the file
    applied_at  DateTime('UTC')
)
ENGINE = MergeTree()
ORDER BY version;

-- events: every envelope exactly as consumed, for chain verification and anything the typed tables lack.
CREATE TABLE IF NOT EXISTS events
(
    event_id          String,          -- envelope id (UUIDv7)
    time              DateTime('UTC'), -- envelope time
    time_us           UInt64,          -- envelope time, epoch microseconds
    envelope_version  UInt8,           -- envelope "v"
    event_type        String,          -- envelope "type", e.g. query.executed
    session           String,          -- envelope "session" (session id, gateway run id, approval id)
    seq               UInt64,          -- envelope "seq"
    prev              String,          -- envelope "prev" (hex SHA-256)
    hash              String,          -- envelope "hash" (hex SHA-256 of the canonical event without "hash")
    source_instance   String,          -- envelope gateway.instance (gateway, approver, indexer or reporter)
    source_version    String,          -- envelope gateway.version
    data              String,          -- envelope "data", canonical JSON
    record            String,          -- the Kafka record value: the canonical encoding including "hash"
    kafka_topic       String,
    kafka_partition   Int32,
    kafka_offset      Int64,
    kafka_key         String,
    kafka_time_us     UInt64,          -- Kafka record timestamp, epoch microseconds
    ingested_us       UInt64           -- when the indexer wrote the row (differs between replayed copies)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (session, seq, event_id);

-- sessions: one row per session.started (who, from where, which JIT role).
CREATE TABLE IF NOT EXISTS sessions
(
    event_id          String,
    time              DateTime('UTC'),
    time_us           UInt64,
    session           String,
    seq               UInt64,
    gateway_instance  String,
    issuer            String,          -- verified OIDC issuer
    subject           String,          -- verified OIDC subject
    claim_keys        Array(String),   -- workload claims (repository, workflow, service_account, email, …)
    claim_values      Array(String),
    groups            Array(String),
    human             UInt8,           -- a person using a workload account (PCI DSS 10.2.1.2)
    client_addr       String,
    client_tls        UInt8,
    application       String,
    target            String,
    target_database   String,
    requested_role    String,
    role              String,          -- JIT role the session runs as
    granted           Array(String),
    mask_shape        String,
    policy_hash       String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (issuer, subject, time, event_id);

-- session_ends: one row per session.ended.
CREATE TABLE IF NOT EXISTS session_ends
(
    event_id          String,
    time              DateTime('UTC'),
    time_us           UInt64,
    session           String,
    seq               UInt64,
    gateway_instance  String,
    reason            String,          -- client_terminate, client_gone, idle_timeout, shutdown, error, audit_unavailable
    statements        Int64,
    blocked           Int64,
    duration_us       Int64,
    bytes_in          Int64,
    bytes_out         Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (session, event_id);

-- statements: one row per query.executed (outcome ok/error) and query.blocked (outcome blocked).
CREATE TABLE IF NOT EXISTS statements
(
    event_id          String,
    time              DateTime('UTC'),
    time_us           UInt64,
    session           String,
    seq               UInt64,
    gateway_instance  String,
    event_type        String,          -- query.executed or query.blocked
    stmt_index        Int64,           -- statement number within the session, from 0
    sql               String,          -- redacted SQL text
    fingerprint       String,
    params            Array(String),   -- redacted bind parameters
    kind              String,          -- read, write, ddl, role, copy, utility, transaction, unparseable
    tables            Array(String),
    columns           Array(String),
    cardholder        UInt8,           -- touched a table or column tagged as cardholder data
    risk_tags         Array(String),
    risk_score        Int64,
    protocol          String,          -- simple, extended
    role              String,          -- JIT role
    outcome           String,          -- ok, error, blocked
    sqlstate          String,
    error             String,          -- masked error text (executed) or message (blocked)
    command_tag       String,
    row_count         Int64,
    duration_us       Int64,
    mask_shape        String,
    masked_columns    Array(String),   -- masked-value counts per column …
    masked_counts     Array(Int64),    -- … parallel to masked_columns
    masked_total      Int64,           -- sum of masked_counts
    sample            String,          -- capped masked result sample, JSON ("" if none)
    rule              String,          -- policy rule that applied
    block_reason      String,          -- query.blocked reason (policy_deny, approval_denied, …), "" otherwise
    approval_id       String,
    approval_decision String,
    approval_by       String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (session, stmt_index, event_id);

-- statement_tables: one row per (statement, table touched), for "who touched table X" without scanning.
CREATE TABLE IF NOT EXISTS statement_tables
(
    event_id          String,          -- the statement's event id (join to statements.event_id)
    time              DateTime('UTC'),
    time_us           UInt64,
    session           String,
    table_name        String,
    kind              String,
    cardholder        UInt8,
    outcome           String,
    role              String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (table_name, time, event_id);

-- approvals: one row per approval.requested / .notified / .decided / .expired event, from the audit topic
-- (chained into the session) and the approvals topic (unchained). A request appears on both topics with
-- different event ids; group by approval_id. The first decided/expired event of an approval applies.
CREATE TABLE IF NOT EXISTS approvals
(
    event_id          String,
    time              DateTime('UTC'),
    time_us           UInt64,
    kafka_topic       String,
    event_type        String,          -- approval.requested, approval.notified, approval.decided, approval.expired
    approval_id       String,
    session           String,          -- the held statement's session (requested), else the envelope session
    source_instance   String,
    issuer            String,          -- requested: the requester's identity
    subject           String,
    target            String,
    role              String,
    sql               String,          -- requested: redacted statement
    fingerprint       String,
    statement_kind    String,
    tables            Array(String),
    rule              String,
    reason            String,          -- requested: why the policy holds it; decided: approver's reason
    approver_group    String,
    expires_us        UInt64,          -- requested/expired: expiry, epoch microseconds
    decision          String,          -- decided: approved, denied, withdrawn; expired: expired
    decided_by        String,          -- Slack user id, "client", "terminal:<user>"
    decided_by_name   String,
    decided_by_email  String,
    latency_ms        Int64,           -- decided: request to decision
    channel           String,          -- notified
    message_ts        String           -- notified
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (approval_id, time, event_id);

-- auth_events: one row per auth.succeeded (outcome ok) and auth.failed (outcome failed).
CREATE TABLE IF NOT EXISTS auth_events
(
    event_id          String,
    time              DateTime('UTC'),
    time_us           UInt64,
    session           String,
    gateway_instance  String,
    event_type        String,
    outcome           String,          -- ok, failed
    issuer            String,          -- failed: unverified claim, may be empty
    subject           String,
    claim_keys        Array(String),
    claim_values      Array(String),
    groups            Array(String),
    human             UInt8,
    client_addr       String,
    client_tls        UInt8,
    application       String,
    target            String,
    target_database   String,
    startup_user      String,          -- failed: startup user as sent
    requested_role    String,
    token_id          String,          -- jti, never the token
    token_expiry_us   UInt64,
    reason            String,          -- failed: expired, wrong_audience, bad_signature, …
    message           String,
    sqlstate          String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (event_type, issuer, time, event_id);

-- credentials: one row per credential.issued / credential.revoked (JIT roles).
CREATE TABLE IF NOT EXISTS credentials
(
    event_id          String,
    time              DateTime('UTC'),
    time_us           UInt64,
    session           String,          -- envelope session (the client session or the gateway run)
    gateway_instance  String,
    event_type        String,          -- credential.issued or credential.revoked
    role              String,
    target            String,
    granted           Array(String),   -- issued
    valid_until_us    UInt64,          -- issued: VALID UNTIL
    ttl_ms            Int64,           -- issued
    for_session       String,          -- issued
    reason            String,          -- revoked: session_end, reaped, shutdown
    issued_at_us      UInt64,          -- revoked: when the role was issued, if known
    error             String           -- revoked: non-empty if the drop failed
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (role, time, event_id);

-- checkpoints: one row per gateway.checkpoint (signed digest of session heads per interval).
CREATE TABLE IF NOT EXISTS checkpoints
(
    event_id          String,
    time              DateTime('UTC'),
    time_us           UInt64,
    session           String,          -- envelope session (the gateway run's chain)
    seq               UInt64,
    instance          String,
    run               String,
    checkpoint_number UInt64,
    prev_checkpoint   String,          -- SHA-256 of the previous checkpoint's canonical data
    from_us           UInt64,
    to_us             UInt64,
    interval_ms       Int64,
    head_sessions     Array(String),   -- session heads, parallel arrays
    head_seqs         Array(UInt64),
    head_hashes       Array(String),
    head_ended        Array(UInt8),
    key_id            String,
    signature         String,
    data              String           -- the checkpoint data as canonical JSON, for offline verification
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (instance, run, checkpoint_number, event_id);

-- lifecycle: one row per gateway.started, gateway.stopped, policy.loaded (gateways and their clock, PCI DSS
-- 10.2.1.6, 10.6), retention.dropped (10.5.1) and report.generated (reads of the audit store, 10.2.1.3).
-- Columns that do not apply to an event type are empty / 0.
CREATE TABLE IF NOT EXISTS lifecycle
(
    event_id          String,
    time              DateTime('UTC'),
    time_us           UInt64,
    session           String,          -- the process run's chain id
    seq               UInt64,
    source_instance   String,
    source_version    String,
    event_type        String,
    listen            String,          -- gateway.started
    targets           Array(String),
    config_hash       String,
    policy_hash       String,          -- gateway.started, policy.loaded (hash)
    mask_shape        String,
    checkpoint_interval_ms Int64,
    key_id            String,          -- checkpoint signing key fingerprint
    clock_source      String,
    clock_synced      UInt8,
    clock_offset_us   Int64,
    reason            String,          -- gateway.stopped
    sessions_served   Int64,
    uptime_ms         Int64,
    policy_source     String,          -- policy.loaded
    policy_rules      Int64,
    table_name        String,          -- retention.dropped
    partitions        Array(String),
    keep_months       Int64,
    report_kind       String,          -- report.generated
    report_from_us    UInt64,
    report_to_us      UInt64,
    location          String,
    manifest_hash     String,
    report_events     Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (event_type, source_instance, time, event_id);

-- dead_letters: Kafka records the indexer could not accept, with the reason; never silently dropped.
-- Keyed by (kafka_topic, kafka_partition, kafka_offset) so a replayed record is one row.
CREATE TABLE IF NOT EXISTS dead_letters
(
    kafka_time        DateTime('UTC'), -- Kafka record timestamp (partitioning)
    kafka_time_us     UInt64,
    kafka_topic       String,
    kafka_partition   Int32,
    kafka_offset      Int64,
    kafka_key         String,
    value             String,          -- the record value as received (capped at 1 MiB by the topic)
    stage             String,          -- parse, validate, verify, type, map
    reason            String,          -- why it was refused
    event_id          String,          -- envelope id if it could be read, else ""
    event_type        String,          -- envelope type if it could be read, else ""
    ingested_us       UInt64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(kafka_time)
ORDER BY (kafka_topic, kafka_partition, kafka_offset);
