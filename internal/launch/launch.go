// Package launch starts pangate's own service binaries as real processes for the integration tests
// (through integration/stack) and the demo (deploy/demo): build once (internal/gobuild), write the configuration by
// marshalling the service's own config type (never YAML by hand), make the keys and a dev TLS
// certificate, start, wait until ready, stop, kill -9, restart. It has no testing dependency so a
// non-test binary may use it; no service imports it.
//
//	gobuild.Binary ──▶ Gateway/Approver/Indexer/Issuer(spec) ──▶ WriteConfig ──▶ Start ──▶ wait for ready
//	                                                                             │
//	                                                        Stop (SIGTERM) · Kill (SIGKILL) · Restart
package launch

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DevCert writes a self-signed certificate (its own CA) for 127.0.0.1 and localhost into dir as tls.crt
// and tls.key: the server certificate of a gateway under test, and the file a client verifies it with.
func DevCert(dir string) (certFile, keyFile string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "pangate dev"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// FreeAddr returns a loopback host:port nobody listens on right now (for services whose listen address
// must be known before they start, like the approver's).
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// WriteConfig marshals cfg — a service's own config type — as YAML into path (mode 0600: it may hold a
// DSN or a password). The services load it strictly, so every field written is one they know.
func WriteConfig(path string, cfg any) error {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("launch: marshal %T: %w", cfg, err)
	}
	return os.WriteFile(path, b, 0o600)
}

// Environ is the environment of a service process: the caller's without any variable that starts with one
// of prefixes (so an exported .stack/env or PANGATE_GATEWAY_* of the shell cannot change what the written
// config says), plus extra.
func Environ(prefixes []string, extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}
