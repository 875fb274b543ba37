// Command approver posts held statements to Slack, receives the Approve/Deny clicks and records decisions on
// the approvals topic; "approver decide" records a decision from the terminal. See docs/approvals.md.
//
//	approver [serve] -config approver.yaml
//	approver decide  -config approver.yaml -id APPROVAL_ID (-approve | -deny) [-reason TEXT] [-user NAME]
//	approver keygen  -out decision.pem     create the Ed25519 decision signing key (and decision.pub.pem)
//
// Exit status, as for every pangate binary: 0 success (and -h), 2 usage or configuration error (printed as
// text naming the setting), 1 runtime failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/pangate/pangate/approver/callback"
	"github.com/pangate/pangate/approver/config"
	"github.com/pangate/pangate/approver/service"
	"github.com/pangate/pangate/approver/slackui"
	"github.com/pangate/pangate/approver/state"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

var version = "dev"

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "decide":
		err = decide(args)
	case "keygen":
		err = keygen(args)
	case "help":
		err = flag.ErrHelp
		fmt.Println(usage)
	default:
		err = usageError{fmt.Errorf("unknown command %q: use serve, decide or keygen", cmd)}
	}
	os.Exit(exitCode(err))
}

const usage = `usage:
  approver [serve] -config approver.yaml
  approver decide  -config approver.yaml -id APPROVAL_ID (-approve | -deny) [-reason TEXT] [-user NAME]
  approver keygen  -out decision.pem`

// exitCode prints err and returns the exit status: 0 none or -h (the flag package printed the usage), 2
// usage or configuration error, 1 anything else.
func exitCode(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(os.Stderr, "approver:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError is a usage or configuration mistake (exit 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// parse parses flags; a bad flag is a usageError, -h is flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

func logger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(orDefault(level, "info"))))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func keygen(args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "decision.pem", "private key file to create (PKCS#8 PEM, mode 0600)")
	pub := fs.String("pub", "", "public key file for the gateways (default: OUT with .pub.pem)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *pub == "" {
		*pub = strings.TrimSuffix(*out, ".pem") + ".pub.pem"
	}
	id, err := schemas.WriteKeyPair(*out, *pub)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s (key id %s)\n", *out, *pub, id)
	return nil
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", os.Getenv("PANGATE_APPROVER_CONFIG"), "YAML configuration file")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usageError{err}
	}
	if err := cfg.ValidateServe(); err != nil {
		return usageError{err}
	}
	log := logger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	masker, err := mask.New(mask.Config{})
	if err != nil {
		return err
	}
	ui := slackui.NewRenderer(masker)
	var sopts []slack.Option
	if cfg.Slack.APIURL != "" {
		sopts = append(sopts, slack.OptionAPIURL(cfg.Slack.APIURL))
	}
	if cfg.Slack.SocketMode {
		sopts = append(sopts, slack.OptionAppLevelToken(cfg.Slack.AppToken))
	}
	api := slack.New(cfg.Slack.Token, sopts...)

	dkey, dkeys, err := cfg.DecisionKeys()
	if err != nil {
		return usageError{err}
	}
	if err := service.EnsureTopic(ctx, cfg.Kafka.Brokers, cfg.Kafka.Topic); err != nil {
		return fmt.Errorf("ensure topic %s: %w", cfg.Kafka.Topic, err)
	}
	svc, err := service.New(service.Config{Instance: cfg.Instance, Version: version, Topic: cfg.Kafka.Topic,
		Brokers: cfg.Kafka.Brokers, Channel: cfg.Slack.Channel, Lease: cfg.ClaimLease, ExpiryGrace: cfg.ExpiryGrace,
		DecisionKey: dkey, DecisionKeys: dkeys}, api, ui, log, reg)
	if err != nil {
		return err
	}
	defer svc.Close()
	cb, err := callback.New(callback.Config{SigningSecret: cfg.Slack.SigningSecret, Approvers: cfg.Approvers,
		ApproverGroup: cfg.ApproverGroup, Groups: cfg.Groups, SocketMode: cfg.Slack.SocketMode, Owners: cfg.WorkloadOwners}, svc, api, ui, log, reg)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(cfg.CallbackPath, cb)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !svc.IsReady() {
			http.Error(w, "rebuilding state from the approvals topic", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: cfg.Listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	errc := make(chan error, 3)
	if cfg.Slack.SocketMode {
		// apps.connections.open goes to the same Web API base URL (slack.api_url) as every other call.
		sm := socketmode.New(api)
		go func() {
			log.Info("receiving clicks over slack socket mode")
			errc <- cb.RunSocket(ctx, sm)
		}()
	}
	go func() {
		log.Info("listening", "addr", cfg.Listen, "callback", cfg.CallbackPath)
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	go func() { errc <- svc.Run(ctx) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}

func decide(args []string) error {
	fs := flag.NewFlagSet("decide", flag.ContinueOnError)
	path := fs.String("config", os.Getenv("PANGATE_APPROVER_CONFIG"), "YAML configuration file")
	id := fs.String("id", "", "approval id (shown in the Slack message and in approval.requested)")
	approve := fs.Bool("approve", false, "approve the statement")
	deny := fs.Bool("deny", false, "deny the statement")
	reason := fs.String("reason", "", "reason recorded with the decision")
	who := fs.String("user", "", "terminal user name (default: the OS user); must be listed in terminal_users")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" || *approve == *deny {
		return usageError{errors.New("decide needs -id and exactly one of -approve or -deny")}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usageError{err}
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
		return usageError{fmt.Errorf("terminal user %q is not an authorised approver: add it to terminal_users in the approver configuration", name)}
	}
	dkey, dkeys, err := cfg.DecisionKeys()
	if err != nil {
		return usageError{err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, err := service.New(service.Config{Instance: cfg.Instance + "-terminal", Version: version, Topic: cfg.Kafka.Topic,
		Brokers: cfg.Kafka.Brokers, Passive: true, Lease: cfg.ClaimLease, DecisionKey: dkey, DecisionKeys: dkeys}, nil, nil, logger(cfg.LogLevel), nil)
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
	a, ok := svc.Lookup(*id)
	if !ok {
		return fmt.Errorf("approval %s is not on topic %s", *id, cfg.Kafka.Topic)
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
	fmt.Printf("approval %s %s by %s\n", a.ID, decision, by)
	return nil
}
