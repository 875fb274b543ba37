package authtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pangate/pangate/internal/gobuild"
)

// Remote steers an issuer over HTTP (the steering endpoints), in-process or a separate process alike.
type Remote struct {
	URL  string
	HTTP *http.Client // default: a client with a 10s timeout
}

func (r Remote) client() *http.Client {
	if r.HTTP != nil {
		return r.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (r Remote) post(ctx context.Context, path string, in, out any) error {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client().Do(req)
	if err != nil {
		return fmt.Errorf("authtest: POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("authtest: POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

// Mint asks the issuer for a token (POST /mint).
func (r Remote) Mint(ctx context.Context, req MintRequest) (MintResponse, error) {
	var out MintResponse
	err := r.post(ctx, "/mint", req, &out)
	return out, err
}

// Rotate makes a new key current (POST /rotate); the old ones stay published until Retire.
func (r Remote) Rotate(ctx context.Context) (KeysResponse, error) {
	var out KeysResponse
	err := r.post(ctx, "/rotate", nil, &out)
	return out, err
}

// Retire unpublishes every key but the current one (POST /retire).
func (r Remote) Retire(ctx context.Context) (KeysResponse, error) {
	var out KeysResponse
	err := r.post(ctx, "/retire", nil, &out)
	return out, err
}

// TestIssuer is a running issuer a test steers; t.Fatal on any steering error.
type TestIssuer struct {
	// URL is the issuer identifier (and base URL): put it in auth.IssuerConfig.URL.
	URL    string
	Remote Remote
	t      testing.TB
	stop   func()
}

// Mint returns a token for req or fails the test.
func (ti *TestIssuer) Mint(req MintRequest) string {
	ti.t.Helper()
	resp, err := ti.Remote.Mint(context.Background(), req)
	if err != nil {
		ti.t.Fatalf("mint: %v", err)
	}
	return resp.Token
}

// Rotate makes a new key current and returns its kid, or fails the test.
func (ti *TestIssuer) Rotate() string {
	ti.t.Helper()
	resp, err := ti.Remote.Rotate(context.Background())
	if err != nil {
		ti.t.Fatalf("rotate: %v", err)
	}
	return resp.Current
}

// Retire unpublishes the non-current keys and returns their kids, or fails the test.
func (ti *TestIssuer) Retire() []string {
	ti.t.Helper()
	resp, err := ti.Remote.Retire(context.Background())
	if err != nil {
		ti.t.Fatalf("retire: %v", err)
	}
	return resp.Retired
}

// Stop stops the issuer (to test an issuer that went away). Idempotent; also run at cleanup.
func (ti *TestIssuer) Stop() { ti.stop() }

// StartIssuer runs an issuer in-process on a loopback httptest server, signing with alg ("" = RS256).
// The *Issuer is returned too, for direct access (fake clock, JWKS).
func StartIssuer(t testing.TB, alg string) (*TestIssuer, *Issuer) {
	t.Helper()
	var h http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	iss, err := NewIssuer(srv.URL, alg)
	if err != nil {
		srv.Close()
		t.Fatalf("authtest: %v", err)
	}
	h = iss.Handler()
	var once sync.Once
	ti := &TestIssuer{URL: srv.URL, Remote: Remote{URL: srv.URL, HTTP: srv.Client()}, t: t, stop: func() { once.Do(srv.Close) }}
	t.Cleanup(ti.Stop)
	return ti, iss
}

// BuildIssuer builds ./deploy/issuer once per test binary and returns the executable's path (gobuild.Binary:
// one stable path replaced atomically, shared safely by concurrent test processes).
func BuildIssuer(t testing.TB) string {
	t.Helper()
	path, err := gobuild.Binary("./deploy/issuer")
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	return path
}

// StartIssuerProcess runs the dev issuer (./deploy/issuer, built once per test binary) as a separate process
// on a loopback port and waits until it serves discovery. Extra flags (e.g. "-alg", "ES256") are passed on.
// The process is killed at cleanup, or earlier by Stop.
func StartIssuerProcess(t testing.TB, flags ...string) *TestIssuer {
	t.Helper()
	bin := BuildIssuer(t)
	args := append([]string{"-addr", "127.0.0.1:0"}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &prefixWriter{t: t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("authtest: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("authtest: start issuer: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)

	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			urlc <- strings.TrimSpace(sc.Text())
		}
		close(urlc)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var url string
	select {
	case u, ok := <-urlc:
		if !ok || u == "" {
			stop()
			t.Fatalf("authtest: issuer process exited before printing its URL")
		}
		url = u
	case <-time.After(30 * time.Second):
		stop()
		t.Fatalf("authtest: issuer process did not print its URL within 30s")
	}
	return &TestIssuer{URL: url, Remote: Remote{URL: url}, t: t, stop: stop}
}

type prefixWriter struct {
	t  testing.TB
	mu sync.Mutex
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Logf("issuer: %s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}
