"""psycopg 3 client of TestPANLeakAllClients: runs every case of a corpus file with binary results.

The corpus file has one case a line, "<id>\t<sql>". For each case it prints the values it received ("V",
repr and str; bytes values also raw, "R"), an error's texts ("M", one line), then "@@CASE <id> ok <rows>",
"@@CASE <id> err <sqlstate>" or "@@CASE <id> fail <exception>" (the driver could not load a value)."""
import sys

import psycopg

dsn, path = sys.argv[1], sys.argv[2]
cases = [line.rstrip("\n").split("\t", 1) for line in open(path, encoding="utf-8") if line.strip()]
out = sys.stdout
with psycopg.connect(dsn, autocommit=True) as conn:
    conn.add_notice_handler(lambda d: print("M notice", d.message_primary, d.message_detail, flush=True))
    cur = conn.cursor()
    for cid, sql in cases:
        try:
            cur.execute(sql, binary=True)
            rows = cur.fetchall() if cur.description else []
        except psycopg.Error as e:
            if e.sqlstate is None:  # not a server error: the driver failed on what it received
                print("@@CASE", cid, "fail", type(e).__name__, str(e).replace("\n", " "), flush=True)
                continue
            d = e.diag
            texts = [str(e), d.message_detail, d.message_hint, d.context, d.internal_query]
            print("M", " ".join(t for t in texts if t).replace("\n", " "))
            print("@@CASE", cid, "err", e.sqlstate, flush=True)
            continue
        for r in rows:
            print("V", repr(r), str(r), flush=True)
            for v in r:
                if isinstance(v, (bytes, bytearray, memoryview)):
                    out.buffer.write(b"R " + bytes(v) + b"\n")
                    out.buffer.flush()
        print("@@CASE", cid, "ok", len(rows), flush=True)
