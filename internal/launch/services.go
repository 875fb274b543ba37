package launch

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	approverconfig "github.com/pangate/pangate/approver/config"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	indexerconfig "github.com/pangate/pangate/indexer/config"
)

// DefaultReadyTimeout is how long a service may take to become ready when a spec says nothing: generous,
// since the CI machine has two busy cores shared by several test processes.
const DefaultReadyTimeout = 90 * time.Second

// Common is what every service spec shares.
type Common struct {
	// Dir holds the written config file (created if missing).
	Dir string
	// Bin is the service binary (gobuild.Binary("./gateway") …).
	Bin string
	// Args are extra command-line arguments after the config flag (e.g. "-log-level", "debug").
	Args []string
	// Env is appended to the process environment; the caller's own PANGATE_ variables are dropped first, so
	// only the written config (and Env) configures the service: a shell with the local stack's .stack/env
	// exported once made a service join the stack's Kafka instead of the one its config named (issue 15).
	Env []string
	// LogFile, OnLine, Setpgid: see Spec.
	LogFile string
	OnLine  func(line string)
	Setpgid bool
	// ReadyTimeout bounds the wait for ready (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// NoWait returns as soon as the process started; call the service's WaitReady later (start several
	// processes, then wait for all: they come up in parallel).
	NoWait bool
}

func (c Common) timeout() time.Duration {
	if c.ReadyTimeout > 0 {
		return c.ReadyTimeout
	}
	return DefaultReadyTimeout
}

func (c Common) start(name, file string, cfg any, args ...string) (*Proc, string, error) {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, "", err
	}
	path := filepath.Join(c.Dir, file)
	if err := WriteConfig(path, cfg); err != nil {
		return nil, "", err
	}
	p, err := Start(Spec{Name: name, Bin: c.Bin, Args: append(append(args, "-config", path), c.Args...),
		Env: Environ([]string{"PANGATE_"}, c.Env...), LogFile: c.LogFile, OnLine: c.OnLine, Setpgid: c.Setpgid})
	return p, path, err
}

// GatewaySpec says how to run a gateway: its whole configuration, as the gateway's own type.
type GatewaySpec struct {
	Common
	Config gatewayconfig.Config
}

// Gateway is a gateway process. Addr and Port are known once it is ready (its "gateway serving" line).
type Gateway struct {
	*Proc
	Spec       GatewaySpec
	ConfigFile string
	Addr       string // pgwire host:port
	Port       string
	Ops        string // ops server host:port ("" when ops.listen is off)
}

// StartGateway writes s.Config to Dir/gateway.yaml, runs `gateway run -config …` and, unless NoWait,
// waits for its "gateway serving" line.
func StartGateway(s GatewaySpec) (*Gateway, error) {
	p, path, err := s.start("gateway "+s.Config.Instance, "gateway.yaml", s.Config, "run")
	if err != nil {
		return nil, err
	}
	g := &Gateway{Proc: p, Spec: s, ConfigFile: path}
	if s.NoWait {
		return g, nil
	}
	return g, g.WaitReady()
}

// WaitReady waits for the "gateway serving" line and reads the listen and ops addresses from the log.
func (g *Gateway) WaitReady() error {
	m, err := g.WaitMsg("gateway serving", g.Spec.timeout())
	if err != nil {
		return err
	}
	g.Addr, _ = m["listen"].(string)
	_, g.Port, _ = net.SplitHostPort(g.Addr)
	for _, l := range g.Lines() { // "ops serving" comes first
		if strings.Contains(l, `"msg":"ops serving"`) {
			if i := strings.Index(l, `"addr":"`); i >= 0 {
				g.Ops, _, _ = strings.Cut(l[i+len(`"addr":"`):], `"`)
			}
		}
	}
	return nil
}

// Restart starts the gateway again with the same spec (same instance name and topics, a new listen port
// when the config says 127.0.0.1:0); the old process must have ended (Stop or Kill first).
func (g *Gateway) Restart() (*Gateway, error) {
	if g.Alive() {
		return nil, fmt.Errorf("launch: restart %s: it still runs; Stop or Kill it first", g.Proc.Spec.Name)
	}
	return StartGateway(g.Spec)
}

// ApproverSpec says how to run an approver.
type ApproverSpec struct {
	Common
	// Config is the approver's configuration; an empty Listen gets a free loopback port.
	Config approverconfig.Config
}

// Approver is an approver process; URL is its HTTP base (http://listen).
type Approver struct {
	*Proc
	Spec       ApproverSpec
	ConfigFile string
	URL        string
}

// StartApprover writes s.Config to Dir/<instance>.yaml, runs `approver serve -config …` and, unless
// NoWait, waits until /readyz answers 200.
func StartApprover(s ApproverSpec) (*Approver, error) {
	if s.Config.Listen == "" {
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		s.Config.Listen = addr
	}
	file := "approver.yaml"
	if s.Config.Instance != "" {
		file = s.Config.Instance + ".yaml"
	}
	p, path, err := s.start("approver "+s.Config.Instance, file, s.Config, "serve")
	if err != nil {
		return nil, err
	}
	a := &Approver{Proc: p, Spec: s, ConfigFile: path, URL: "http://" + s.Config.Listen}
	if s.NoWait {
		return a, nil
	}
	return a, a.WaitReady()
}

// WaitReady waits until the approver's /readyz answers 200.
func (a *Approver) WaitReady() error { return a.WaitHTTP(a.URL+"/readyz", a.Spec.timeout()) }

// Restart starts the approver again with the same spec (same listen address); the old process must have
// ended.
func (a *Approver) Restart() (*Approver, error) {
	if a.Alive() {
		return nil, fmt.Errorf("launch: restart %s: it still runs; Stop or Kill it first", a.Proc.Spec.Name)
	}
	return StartApprover(a.Spec)
}

// IndexerSpec says how to run an indexer.
type IndexerSpec struct {
	Common
	// Config is the indexer's configuration; start from indexerconfig.Defaults(), since the indexer
	// decodes its file over its defaults and a zero written here would replace one.
	Config indexerconfig.Config
}

// Indexer is an indexer process; Listen (its metrics and health server) is known once it is ready.
type Indexer struct {
	*Proc
	Spec       IndexerSpec
	ConfigFile string
	Listen     string
}

// StartIndexer writes s.Config to Dir/<instance>.yaml, runs `indexer -config …` and, unless NoWait,
// waits for its "indexer started" line.
func StartIndexer(s IndexerSpec) (*Indexer, error) {
	file := "indexer.yaml"
	if s.Config.Instance != "" {
		file = s.Config.Instance + ".yaml"
	}
	p, path, err := s.start("indexer "+s.Config.Instance, file, s.Config)
	if err != nil {
		return nil, err
	}
	ix := &Indexer{Proc: p, Spec: s, ConfigFile: path}
	if s.NoWait {
		return ix, nil
	}
	return ix, ix.WaitReady()
}

// WaitReady waits for the "indexer started" line.
func (ix *Indexer) WaitReady() error {
	m, err := ix.WaitMsg("indexer started", ix.Spec.timeout())
	if err != nil {
		return err
	}
	ix.Listen, _ = m["listen"].(string)
	return nil
}

// Restart starts the indexer again with the same spec; the old process must have ended.
func (ix *Indexer) Restart() (*Indexer, error) {
	if ix.Alive() {
		return nil, fmt.Errorf("launch: restart %s: it still runs; Stop or Kill it first", ix.Proc.Spec.Name)
	}
	return StartIndexer(ix.Spec)
}

// Issuer is the dev OIDC issuer (./deploy/issuer) as a process; URL is its issuer identifier.
type Issuer struct {
	*Proc
	URL string
}

// StartIssuer runs the dev issuer on a free loopback port (flags: e.g. "-alg", "ES256") and waits until it
// has written its URL to Dir/issuer.url.
func StartIssuer(c Common, flags ...string) (*Issuer, error) {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	urlFile := filepath.Join(c.Dir, "issuer.url")
	_ = os.Remove(urlFile)
	args := append([]string{"-addr", "127.0.0.1:0", "-url-file", urlFile}, flags...)
	p, err := Start(Spec{Name: "issuer", Bin: c.Bin, Args: append(args, c.Args...), Env: Environ([]string{"PANGATE_"}, c.Env...),
		LogFile: c.LogFile, OnLine: c.OnLine, Setpgid: c.Setpgid})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(c.timeout())
	for {
		if b, err := os.ReadFile(urlFile); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return &Issuer{Proc: p, URL: strings.TrimSpace(string(b))}, nil
		}
		if !p.Alive() {
			return nil, fmt.Errorf("%w: the issuer ended (%v) before it wrote %s; last lines:\n%s", ErrExited, p.ExitErr(), urlFile, p.Tail(20))
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("the issuer did not write %s within %s; last lines:\n%s", urlFile, c.timeout(), p.Tail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
