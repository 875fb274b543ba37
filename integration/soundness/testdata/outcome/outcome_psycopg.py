"""psycopg 3 client of the soundness suite's outcome test (outcome_test.go): runs the steps read from stdin,
one a line, fields separated by U+001F: pid|exec|copyout|copyin|batch, then the SQL (copyin: the data, with
newlines written as \\n; batch: several statements, run in one pipeline). Prints pid=<backend pid> for the
pid step and one line per step: ok <status> or error <sqlstate>."""
import sys

import psycopg

dsn = sys.argv[1]
with psycopg.connect(dsn, autocommit=True) as conn:
    for line in sys.stdin.read().splitlines():
        if not line:
            continue
        op, *args = line.split("\x1f")
        try:
            if op == "pid":
                print("pid=%d" % conn.execute(args[0]).fetchone()[0], flush=True)
            elif op == "exec":
                cur = conn.execute(args[0])
                print("ok", cur.statusmessage, flush=True)
            elif op == "copyout":
                with conn.cursor() as cur:
                    with cur.copy(args[0]) as cp:
                        n = sum(1 for _ in cp.rows())
                    print("ok copied", n, flush=True)
            elif op == "copyin":
                with conn.cursor() as cur:
                    with cur.copy(args[0]) as cp:
                        cp.write(args[1].replace("\\n", "\n"))
                    print("ok", cur.statusmessage, flush=True)
            elif op == "batch":
                with conn.pipeline():
                    for q in args:
                        conn.execute(q)
                print("ok batch", flush=True)
            else:
                sys.exit("unknown step " + op)
        except psycopg.Error as e:
            print("error", e.sqlstate, flush=True)
