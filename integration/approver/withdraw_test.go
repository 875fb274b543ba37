package approver_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/gateway/auth/authtest"
	"github.com/pangate/pangate/schemas"
)

// TestHeldStatementWithdrawnWhenClientKilled pins issue 13.5 end to end: psql, waiting for approval of
// a DELETE, is killed with SIGKILL; the gateway withdraws the approval (approval.decided withdrawn by
// the client), an approval clicked afterwards changes nothing, and the DELETE never runs in PostgreSQL.
func TestHeldStatementWithdrawnWhenClientKilled(t *testing.T) {
	prefix, table, role, admin := heldFixture(t)
	ctx := context.Background()
	w := newWorldOn(t, prefix+schemas.TopicApprovals)
	ap := w.startApprover(t, "ap-kill")
	g := startGateway(t, prefix, role)

	tok := g.iss.Mint(authtest.MintRequest{Subject: "etl-job", Audience: []string{gwAudience}, TTLSeconds: 600})
	cmd := exec.Command("psql", "-X", "-v", "ON_ERROR_STOP=1",
		fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=postgres sslmode=require", g.port, role),
		"-c", fmt.Sprintf("DELETE FROM %s", table))
	cmd.Env = append(os.Environ(), "PGPASSWORD="+tok)
	if err := cmd.Start(); err != nil {
		t.Fatalf("psql: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	msg, id := w.heldPost(t, table)

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	w.events(t, id, func(e []schemas.Event) bool { return slices.Contains(kinds(t, e), "decided:withdrawn") })

	// An approval after the withdrawal is a conflict: nothing runs.
	if r, _ := click(t, ap, slackuitest.Click{ApprovalID: id, Approve: true, User: "UADA", MessageTS: msg.TS}); r == "decided" {
		t.Fatalf("an approval after the client was gone was taken as the decision")
	}
	time.Sleep(2 * time.Second)
	var n int
	if err := admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", table)).Scan(&n); err != nil || n != 5 {
		t.Fatalf("rows after the withdrawn DELETE: %d %v; want all 5", n, err)
	}
	evs := w.readAll(t, id)
	var first string
	for _, e := range evs {
		if e.Type == schemas.TypeApprovalDecided {
			var d schemas.ApprovalDecided
			if err := e.Decode(&d); err != nil {
				t.Fatal(err)
			}
			first = d.Decision + " by " + d.By + " (" + d.Reason + ")"
			break
		}
	}
	if !strings.HasPrefix(first, "withdrawn by ") || !strings.Contains(first, "client_gone") {
		t.Fatalf("first decision in the log: %q; want the client's withdrawal (client_gone)", first)
	}
}
