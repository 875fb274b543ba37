package cli

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"

	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/build"
	"github.com/pangate/pangate/reporter/config"
	"github.com/pangate/pangate/reporter/emit"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/schemas"
)

// setup loads the config and opens what a builder needs: the signing key, the gateways' checkpoint keys,
// the bucket, the audit store and the emitter of report.generated. version is written in every manifest.
func setup(ctx context.Context, path string, log *slog.Logger, out, version string) (config.Config, *build.Builder, func(), error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return cfg, nil, nil, err
	}
	// The integrity stage's memory is bounded by its readers; the soft limit keeps garbage from piling up on
	// top (docs/evidence.md, "Memory"). GOMEMLIMIT, when set, wins.
	log.Debug("memory limit", "bytes", build.ApplyMemoryLimit())
	if out != "" {
		cfg.Bucket = bucket.Config{Dir: out}
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return cfg, nil, nil, fmt.Errorf("%w: kafka.brokers is empty: every package is recorded as a report.generated event on the audit topic (docs/evidence.md \"Trust anchor\"); set kafka.brokers (or PANGATE_REPORTER_KAFKA_BROKERS) to the audit cluster's brokers", config.ErrInvalid)
	}
	if cfg.SigningKey == "" {
		return cfg, nil, nil, fmt.Errorf("%w: signing_key is empty: create one with `reporter keygen -out reporter` and set signing_key (or PANGATE_REPORTER_SIGNING_KEY)", config.ErrInvalid)
	}
	key, err := manifest.LoadPrivateKey(cfg.SigningKey)
	if err != nil {
		return cfg, nil, nil, cli.Usage(fmt.Errorf("signing_key (PANGATE_REPORTER_SIGNING_KEY): %w", err))
	}
	keys := map[string]ed25519.PublicKey{}
	for _, p := range cfg.GatewayKeys {
		k, err := manifest.LoadPublicKey(p)
		if err != nil {
			return cfg, nil, nil, cli.Usage(fmt.Errorf("gateway_keys (PANGATE_REPORTER_GATEWAY_KEYS): %w", err))
		}
		keys[schemas.KeyID(k)] = k
	}
	store, err := bucket.New(cfg.Bucket)
	if err != nil {
		return cfg, nil, nil, err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return cfg, nil, nil, err
	}
	b, err := build.New(build.Config{Version: version, GatewayKeys: keys, Margin: cfg.Margin, Tolerance: cfg.Tolerance}, db, store, key, log)
	if err != nil {
		db.Close()
		return cfg, nil, nil, err
	}
	closers := []func(){func() { db.Close() }}
	// Every package is recorded as report.generated (manifest hash, key id) whatever else is configured:
	// the record is what verify -config checks a package against, and what shows a deleted package
	// (docs/evidence.md "Trust anchor").
	em, err := emit.New(cfg.Kafka.Config, cfg.Kafka.OperationsTopic(), schemas.Source{Instance: cfg.Instance, Version: version})
	if err != nil {
		db.Close()
		return cfg, nil, nil, err
	}
	b.Emitter = em
	closers = append(closers, em.Close)
	return cfg, b, func() {
		for _, c := range closers {
			c()
		}
	}, nil
}
