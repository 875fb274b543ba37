"""psycopg 3 client for the PAN leak test: text and binary cursors, an error, a notice and a notification.

Prints every value it received (the Go test scans them for card numbers), then a summary."""
import sys

import psycopg

dsn, table = sys.argv[1], sys.argv[2]
queries = [
    f"SELECT pan FROM {table} ORDER BY id",
    f"SELECT pan::bigint FROM {table} ORDER BY id",
    f"SELECT pan::numeric FROM {table} ORDER BY id",
    f"SELECT pan::float8 FROM {table} ORDER BY id",
    f"SELECT array_agg(pan ORDER BY id) FROM {table}",
    f"SELECT jsonb_agg(pan::bigint ORDER BY id) FROM {table}",  # json in binary: see knownLeaks
]
counts = []
notices = []
with psycopg.connect(dsn, autocommit=True) as conn:
    conn.add_notice_handler(lambda d: notices.append(d))
    for binary in (False, True):
        with conn.cursor(binary=binary) as cur:
            for q in queries:
                try:
                    cur.execute(q)
                    rows = cur.fetchall()
                except Exception as e:  # a masked value the driver cannot load is a defect, not a crash
                    print("failed", "binary" if binary else "text", q.split(" FROM ")[0], type(e).__name__, e)
                    counts.append(-1)
                    continue
                for r in rows:
                    print(repr(r), str(r))
                counts.append(len(rows))
    code = None
    try:
        conn.execute(f"SELECT pan::int FROM {table}")
    except psycopg.Error as e:
        code = e.sqlstate
        print(str(e), e.diag.message_primary, e.diag.message_detail, e.diag.context)
    conn.execute(f"DO $$ DECLARE p text; BEGIN SELECT pan INTO p FROM {table} WHERE id = 1; RAISE NOTICE 'card %', p USING DETAIL = p; END $$")
    for d in notices:
        print(d.message_primary, d.message_detail)
    conn.execute("LISTEN panleak")
    conn.execute(f"SELECT pg_notify('panleak', pan) FROM {table} WHERE id = 4")
    got = 0
    for n in conn.notifies(timeout=5, stop_after=1):
        print(n.channel, n.payload)
        got += 1
print("rows", " ".join(str(c) for c in counts))
print("error", code)
print("notice", len(notices))
print("notify", got)
