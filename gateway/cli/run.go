package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/gateway/service"
	"github.com/pangate/pangate/internal/cli"
)

// Run is `gateway run`: it loads and validates the configuration (gateway/config) and serves through
// gateway/service.Run until ctx ends. Configuration mistakes come back as text, one per line (exit 2); a
// runtime failure is logged as the JSON line "gateway stopped" (exit 1).
func Run(ctx context.Context, args []string, version string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("config", "", "gateway configuration file (YAML); PANGATE_GATEWAY_* variables override it")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	log, err := cli.Logger(os.Stderr, *level)
	if err != nil {
		return cli.Usagef("-log-level %q: use debug, info, warn or error", *level)
	}
	cfg, err := config.Load(*path, os.Environ())
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil {
		err = service.Run(ctx, cfg, log, service.Options{Version: version, ConfigHash: service.HashFile(*path)})
	}
	if err == nil {
		return nil
	}
	var ce service.ConfigError
	if errors.As(err, &ce) || errors.Is(err, config.ErrInvalid) {
		// Text, not a JSON log line: a list of mistakes must read as a list.
		if ce.Err != nil {
			err = ce.Err
		}
		return cli.Usage(fmt.Errorf("configuration error: %w", err))
	}
	log.Error("gateway stopped", "err", err)
	return cli.Reported{Err: err}
}
