-- title: Blocked statements and denied or expired approvals
-- pci: 10.2.1.4, 10.4.1
-- Statements that never reached the database: policy denials, denied, expired or withdrawn approvals,
-- audit unavailable. For the daily review.
SELECT
    time,
    session,
    subject,
    role,
    block_reason,
    rule,
    sql,
    approval_id
FROM (SELECT time, time_us, session, role, block_reason, rule, sql, approval_id FROM statement_outcomes WHERE outcome = 'blocked')
ANY LEFT JOIN (SELECT session, subject FROM sessions FINAL) USING session
ORDER BY time_us
