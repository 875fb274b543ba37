-- title: Every statement of one session, in order
-- pci: 10.2.1, 10.2.2
-- param: session_id
-- The session's statements (executed and blocked) in the order the gateway saw them, with outcome (ok,
-- error with its SQLSTATE, skipped = not run, blocked; forwarded = no outcome recorded), bound parameters
-- (masked), tables, rows, masking and approval. Replace the session id in the WITH line.
WITH '00000000-0000-0000-0000-000000000000' AS session_id
SELECT
    stmt_index,
    time,
    time_us,
    event_type,
    kind,
    outcome,
    sqlstate,
    command_tag,
    sql,
    params,
    tables,
    row_count,
    masked_total,
    block_reason,
    approval_id
FROM statement_outcomes
WHERE session = session_id
ORDER BY stmt_index, time_us
