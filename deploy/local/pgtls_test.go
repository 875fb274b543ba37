package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPGCertsVerifyForLoopbackNames(t *testing.T) {
	caPEM, crtPEM, keyPEM, err := pgCerts()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(crtPEM, keyPEM)
	if err != nil {
		t.Fatalf("server certificate and key do not match: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA PEM holds no certificate")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("verify-full for %s fails: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "db.example.com"}); err == nil {
		t.Error("the server certificate verifies for a name it was not made for")
	}
	otherCA, _, _, err := pgCerts()
	if err != nil {
		t.Fatal(err)
	}
	other := x509.NewCertPool()
	other.AppendCertsFromPEM(otherCA)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: other, DNSName: "127.0.0.1"}); err == nil {
		t.Error("the server certificate verifies against another CA")
	}
}

func TestEnsurePGTLSIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(data, "postgresql.conf")
	if err := os.WriteFile(conf, []byte("port = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	changed, err := ensurePGTLS(ca, data)
	if err != nil || !changed {
		t.Fatalf("first ensurePGTLS = %v, %v; want changed", changed, err)
	}
	st, err := os.Stat(filepath.Join(data, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("server.key mode %v, want 0600 (PostgreSQL refuses a group/world-readable key)", st.Mode().Perm())
	}
	caBefore, _ := os.ReadFile(ca)
	changed, err = ensurePGTLS(ca, data)
	if err != nil || changed {
		t.Fatalf("second ensurePGTLS = %v, %v; want unchanged", changed, err)
	}
	caAfter, _ := os.ReadFile(ca)
	if string(caBefore) != string(caAfter) {
		t.Error("the CA was regenerated although all files were present")
	}
	b, _ := os.ReadFile(conf)
	if n := strings.Count(string(b), "ssl = on"); n != 1 {
		t.Errorf("postgresql.conf has %d 'ssl = on' lines, want 1:\n%s", n, b)
	}
}
