package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/pangate/pangate/approver/callback"
	"github.com/pangate/pangate/approver/config"
	"github.com/pangate/pangate/approver/service"
	"github.com/pangate/pangate/approver/state"
	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/schemas"
)

// decideWait is how long decide waits for an approval id it has not seen on the topic yet.
const decideWait = 10 * time.Second

// Decide is `approver decide`: it records an approver's decision from the terminal, after the same
// checks a Slack click passes (an authorised terminal user, no self-approval, a reason where the rule
// asks for one), and prints the outcome to stdout.
func Decide(ctx context.Context, args []string, version string, stdout io.Writer) error {
	fs := flag.NewFlagSet("decide", flag.ContinueOnError)
	path := fs.String("config", os.Getenv(configEnv), "YAML configuration file")
	id := fs.String("id", "", "approval id (shown in the Slack message and in approval.requested)")
	approve := fs.Bool("approve", false, "approve the statement")
	deny := fs.Bool("deny", false, "deny the statement")
	reason := fs.String("reason", "", "reason recorded with the decision")
	who := fs.String("user", "", "terminal user name (default: the OS user); must be listed in terminal_users")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *id == "" || *approve == *deny {
		return cli.Usage(errors.New("decide needs -id and exactly one of -approve or -deny"))
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return cli.Usage(err)
	}
	name := *who
	if name == "" {
		u, err := user.Current()
		if err != nil {
			return fmt.Errorf("cannot tell who you are (%v): pass -user", err)
		}
		name = u.Username
	}
	email, ok := cfg.TerminalUsers[name]
	if !ok {
		return cli.Usagef("terminal user %q is not an authorised approver: add it to terminal_users in the approver configuration", name)
	}
	dkey, dkeys, err := cfg.DecisionKeys()
	if err != nil {
		return cli.Usage(err)
	}
	log, _ := cli.Logger(os.Stderr, cfg.LogLevel)
	svc, err := service.New(service.Config{Instance: cfg.Instance + "-terminal", Version: version, Topic: cfg.Kafka.ApprovalsTopic(),
		Kafka: cfg.Kafka.Config, Passive: true, Lease: cfg.ClaimLease, DecisionKey: dkey, DecisionKeys: dkeys}, nil, nil, log, nil)
	if err != nil {
		return err
	}
	defer svc.Close()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(rctx) }()
	select {
	case <-svc.Ready():
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		return errors.New("the approvals topic could not be read within 60s")
	}
	// The gateway's NOTICE naming the approval can reach its client a moment before the request is on the
	// topic: an id not seen yet is waited for briefly while the log is tailed.
	a, ok := svc.Lookup(*id)
	for deadline := time.Now().Add(decideWait); !ok && time.Now().Before(deadline); a, ok = svc.Lookup(*id) {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !ok {
		return fmt.Errorf("approval %s is not on topic %s (waited %s)", *id, cfg.Kafka.ApprovalsTopic(), decideWait)
	}
	if !a.IsPending() {
		return fmt.Errorf("approval %s is already %s by %s; nothing recorded", a.ID, a.Outcome, a.DecidedBy())
	}
	by := "terminal:" + name
	checks, self, why := callback.SelfCheck(a.Request.Identity, name, email, cfg.WorkloadOwners)
	if self {
		return fmt.Errorf("%s cannot decide this request: %s (self-approval); nothing recorded", name, why)
	}
	if a.Request.ReasonRequired && *reason == "" {
		return errors.New("this rule requires a reason: pass -reason")
	}
	decision := state.Approved
	if *deny {
		decision = state.Denied
	}
	counted, after, err := svc.Decide(ctx, schemas.ApprovalDecided{ApprovalID: a.ID, Decision: decision, By: by,
		ByName: name, ByEmail: email, Reason: *reason, SelfChecks: checks})
	if err != nil {
		return err
	}
	if !counted {
		return fmt.Errorf("approval %s was closed first (%s by %s); your decision is in the log but does not count", a.ID, after.Outcome, after.DecidedBy())
	}
	fmt.Fprintf(stdout, "approval %s %s by %s\n", a.ID, decision, by)
	return nil
}
