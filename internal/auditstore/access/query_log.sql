-- What auditors and the reporter may read of ClickHouse's query log (PCI DSS 10.2.1.3: access to the audit
-- logs is itself logged and reviewable) without reading other users' query texts.
--
-- The server writes its query logs into database pangate_querylog (config.xml: <query_log> and
-- <query_thread_log> with <database>pangate_querylog</database>), which only the operator may use:
-- ClickHouse 18.16 lets every user read every table of database `system` whatever allow_databases says, so
-- the logs must live elsewhere. This file, applied once per server by the operator after the query log
-- table exists (`SYSTEM FLUSH LOGS` creates it; the local stack does both), copies each new query log row
-- into pangate_access.queries with literals, numbers and comments replaced by ?, the exception reduced to its
-- code, and the client address. auditor and reporter may use pangate_access (users.xml).
--
-- Idempotent. After a ClickHouse upgrade that changes the query_log columns the server renames the old
-- table (query_log_0); drop the view and apply this file again.

CREATE DATABASE IF NOT EXISTS pangate_access;

CREATE TABLE IF NOT EXISTS pangate_access.queries
(
    event_date      Date,
    event_time      DateTime,
    type            UInt8,    -- 1 start, 2 finish, 3 exception before start, 4 exception while running
    query_kind      String,   -- first word of the query, upper case: SELECT, INSERT, ALTER, ...
    query_masked    String,   -- the query with 'literals', numbers and comments replaced by ?
    user            String,
    initial_user    String,
    address         String,   -- client address
    interface       UInt8,    -- 1 native, 2 HTTP
    client_name     String,
    query_id        String,
    duration_ms     UInt64,
    read_rows       UInt64,
    result_rows     UInt64,
    written_rows    UInt64,
    exception_code  UInt32    -- 0: none
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (event_time, user);

CREATE MATERIALIZED VIEW IF NOT EXISTS pangate_access.queries_from_log TO pangate_access.queries AS
SELECT
    event_date,
    event_time,
    type,
    upper(extract(query, '^[\\s(]*([A-Za-z]+)')) AS query_kind,
    replaceRegexpAll(
        replaceRegexpAll(
            replaceRegexpAll(
                replaceRegexpAll(query, '/\\*[\\s\\S]*?\\*/', '/*?*/'),
                '--[^\\n]*', '--?'),
            '\'(?:[^\'\\\\]|\\\\[\\s\\S])*\'', '?'),
        '\\b[0-9][0-9a-fA-FxX._eE+-]*', '?') AS query_masked,
    user,
    initial_user,
    IPv6NumToString(address) AS address,
    interface,
    client_name,
    query_id,
    query_duration_ms AS duration_ms,
    read_rows,
    result_rows,
    written_rows,
    toUInt32OrZero(extract(exception, '^Code: ([0-9]+)')) AS exception_code
FROM pangate_querylog.query_log;
