package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/pangate/pangate/approver/callback"
	"github.com/pangate/pangate/approver/config"
	"github.com/pangate/pangate/approver/service"
	"github.com/pangate/pangate/approver/slackui"
	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/internal/ops"
)

// Serve is `approver serve` (the default subcommand): it rebuilds the approvals state from the topics,
// posts held statements to Slack and serves Slack's interactions endpoint beside the ops endpoints until
// ctx ends.
func Serve(ctx context.Context, args []string, version string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", os.Getenv(configEnv), "YAML configuration file")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return cli.Usage(err)
	}
	if err := cfg.ValidateServe(); err != nil {
		return cli.Usage(err)
	}
	log, _ := cli.Logger(os.Stderr, cfg.LogLevel)
	ctx, stop := context.WithCancel(ctx)
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
		return cli.Usage(err)
	}
	if err := service.EnsureTopic(ctx, cfg.Kafka.Config, cfg.Kafka.ApprovalsTopic()); err != nil {
		return fmt.Errorf("ensure topic %s: %w", cfg.Kafka.ApprovalsTopic(), err)
	}
	svc, err := service.New(service.Config{Instance: cfg.Instance, Version: version, Topic: cfg.Kafka.ApprovalsTopic(),
		Kafka: cfg.Kafka.Config, Channel: cfg.Slack.Channel, Lease: cfg.ClaimLease, ExpiryGrace: cfg.ExpiryGrace,
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
	// One listener: Slack's interactions endpoint and the ops endpoints, without profiles because the
	// interactions endpoint is public (internal/ops).
	opsSrv := ops.New(ops.Config{Gatherer: reg, Checks: map[string]ops.Check{
		"approvals state": func(context.Context) error {
			if svc.IsReady() {
				return nil
			}
			return fmt.Errorf("rebuilding state from the approvals topic %s", cfg.Kafka.ApprovalsTopic())
		},
	}})
	opsSrv.Handle(cfg.CallbackPath, cb)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	errc := make(chan error, 3)
	if cfg.Slack.SocketMode {
		// apps.connections.open goes to the same Web API base URL (slack.api_url) as every other call.
		sm := socketmode.New(api)
		go func() {
			log.Info("receiving clicks over slack socket mode")
			errc <- cb.RunSocket(ctx, sm)
		}()
	}
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		log.Info("listening", "addr", cfg.Listen, "callback", cfg.CallbackPath)
		if err := opsSrv.Serve(ctx, ln); err != nil {
			errc <- err
		}
	}()
	go func() { errc <- svc.Run(ctx) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stop()
	<-srvDone
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}
