-- title: Which steps of last night's run read cardholder data, and why
-- pci: 10.2.1.1, 10.2.2, 7.2.5
-- param: run_id
-- Every statement on cardholder data since yesterday 00:00 UTC with the reason its workload gave: the
-- purpose, ticket, reasoning step, thought and branch, and the W3C trace of its sqlcommenter comment
-- (statement.context, masked as recorded; docs/context.md), beside the run and commit of the session's
-- token (claims run_id, sha) and what happened. An empty purpose and ticket is a read that gave no reason.
-- Replace the run id ('' = every run); the context is read from the event's own JSON (events.data).
SELECT
    time,
    session,
    subject,
    run,
    commit,
    visitParamExtractString(data, 'step') AS step,
    visitParamExtractString(data, 'thought') AS thought,
    visitParamExtractString(data, 'branch') AS branch,
    visitParamExtractString(data, 'purpose') AS purpose,
    visitParamExtractString(data, 'ticket') AS ticket,
    visitParamExtractString(data, 'traceparent') AS traceparent,
    kind,
    tables,
    outcome,
    row_count,
    masked_total
FROM
(
    SELECT event_id, time, time_us, session, subject, run, commit, kind, tables, outcome, row_count, masked_total
    FROM
    (
        SELECT event_id, time, time_us, session, kind, tables, outcome, row_count, masked_total
        FROM statement_outcomes
        WHERE cardholder = 1 AND time >= toDateTime(yesterday())
    )
    ANY INNER JOIN
    (
        SELECT session, subject, claim_values[indexOf(claim_keys, 'run_id')] AS run,
               claim_values[indexOf(claim_keys, 'sha')] AS commit
        FROM sessions FINAL
        WHERE ('' AS run_id) = '' OR run = run_id
    ) USING session
)
ANY LEFT JOIN
(
    SELECT event_id, data FROM events FINAL WHERE event_type IN ('query.executed', 'query.blocked')
) USING event_id
ORDER BY time_us
