"""psycopg 3 instrumented by OpenTelemetry with its sqlcommenter enabled, for the statement-context test.

Every statement the instrumentation sends carries a comment the library writes itself: db_driver,
dbapi_*, libpq_version, traceparent of the active span, and the framework tags of the OpenTelemetry context
(SQLCOMMENTER_ORM_TAGS_AND_VALUES), where a job puts purpose and ticket. Prints JSON on stdout: the trace ids
of the spans, and what each statement returned or the error the gateway gave."""
import json
import sys

from opentelemetry import context, trace
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.trace import TracerProvider

import psycopg

dsn, table, ticket = sys.argv[1], sys.argv[2], sys.argv[3]
trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("pangate-it")
PsycopgInstrumentor().instrument(enable_commenter=True, commenter_options={})

out = {}


def run(name, sql, params=None, tags=None):
    token = context.attach(context.set_value("SQLCOMMENTER_ORM_TAGS_AND_VALUES", tags)) if tags else None
    try:
        with tracer.start_as_current_span(name) as span:
            out[name + "_trace"] = format(span.get_span_context().trace_id, "032x")
            try:
                with conn.cursor() as cur:
                    cur.execute(sql, params)
                    out[name] = [[str(v) for v in r] for r in cur.fetchall()]
            except psycopg.Error as e:
                out[name + "_error"] = str(e)
                conn.rollback()
    finally:
        if token is not None:
            context.detach(token)


with psycopg.connect(dsn, autocommit=True) as conn:
    # with a purpose and a ticket that holds a card number; parameters: extended protocol
    run("with_purpose", f"SELECT id, pan FROM {table} WHERE id <= %s ORDER BY id", (2,),
        {"purpose": "refund review, step 2/3", "ticket": ticket})
    # without a purpose: the policy refuses the cardholder read (no parameters: '%' stays doubled)
    run("without_purpose", f"SELECT id, pan FROM {table} WHERE id = 2")
    # not cardholder data: allowed without a purpose
    run("plain", f"SELECT count(*) FROM {table}")
print(json.dumps(out))
