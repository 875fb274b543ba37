package soundness_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pangate/pangate/gateway/proxy"
	"github.com/pangate/pangate/integration/stack"
)

// TestClientEncodingAllowListMatchesServer checks the gateway's client_encoding allow-list against the
// real PostgreSQL: every name it accepts is one the server resolves to a server-side encoding (those whose
// multibyte sequences never contain ASCII bytes), and every encoding the server knows is accepted exactly
// when it is server-side. PostgreSQL numbers its encodings with the client-only ones (SJIS, BIG5, GBK,
// UHC, GB18030, JOHAB, SHIFT_JIS_2004) last, from SJIS on.
func TestClientEncodingAllowListMatchesServer(t *testing.T) {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, stack.PostgresDSN(t))
	if err != nil {
		t.Fatalf("PostgreSQL: %v (start the stack with: go tool task up)", err)
	}
	defer c.Close(ctx)
	var sjis int
	if err := c.QueryRow(ctx, "SELECT pg_char_to_encoding('SJIS')").Scan(&sjis); err != nil || sjis <= 0 {
		t.Fatalf("pg_char_to_encoding('SJIS') = %d, %v", sjis, err)
	}
	for _, name := range proxy.SafeEncodingNames() {
		var id int
		if err := c.QueryRow(ctx, "SELECT pg_char_to_encoding($1)", name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if id < 0 || id >= sjis {
			t.Errorf("the gateway accepts client_encoding %q, which PostgreSQL reads as encoding %d (client-only or unknown)", name, id)
		}
	}
	rows, err := c.Query(ctx, "SELECT i, pg_encoding_to_char(i) FROM generate_series(0, 63) i WHERE pg_encoding_to_char(i) <> ''")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id int
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		n++
		if want := id < sjis; proxy.SafeClientEncoding(name) != want {
			t.Errorf("client_encoding %q (PostgreSQL encoding %d): gateway accepts=%v, want %v", name, id, !want, want)
		}
	}
	if err := rows.Err(); err != nil || n < 30 {
		t.Fatalf("read %d encodings from PostgreSQL: %v", n, err)
	}
}
