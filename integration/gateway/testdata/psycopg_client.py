"""psycopg (libpq) client for the gateway integration test: extended-protocol queries with parameters,
a write, pipeline mode, and a server-side cursor. Prints JSON results on stdout."""
import json
import sys

import psycopg

dsn, table = sys.argv[1], sys.argv[2]
out = {}
with psycopg.connect(dsn) as conn:
    with conn.cursor() as cur:
        cur.execute(f"SELECT id, name, amount::text FROM {table} WHERE id <= %s ORDER BY id", (5,))
        out["rows"] = [list(r) for r in cur.fetchall()]
        cur.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", (300, "psycopg", "none", 3))
    conn.commit()
    with conn.pipeline():
        a = conn.execute(f"SELECT count(*) FROM {table}")
        b = conn.execute("SELECT %s::int + 1", (41,))
    out["pipeline"] = [a.fetchone()[0], b.fetchone()[0]]
    with conn.cursor(name="srv") as cur:
        cur.execute(f"SELECT id FROM {table} ORDER BY id")
        out["cursor"] = len(cur.fetchall())
print(json.dumps(out))
