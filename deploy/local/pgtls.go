package main

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
)

// pgTLSMarker heads the TLS block appended to postgresql.conf; its presence
// means the block was written (clusters made before TLS lack it).
const pgTLSMarker = "# pangate local stack: TLS"

// pgCAFile is where clients find the CA that signed the server certificate
// (PANGATE_PG_CA_FILE); outside the data directory so any user can read it.
func (s *stack) pgCAFile() string { return s.path("pg", "ca.pem") }

// ensurePGTLS gives the cluster in data a server certificate for 127.0.0.1 and
// localhost, signed by a CA of its own, and turns ssl on. It is idempotent and
// reports whether it changed anything (so a running server must reload).
// Plaintext stays accepted: pg_hba's host lines match SSL and non-SSL alike.
func ensurePGTLS(caFile, data string) (changed bool, err error) {
	crt, key := filepath.Join(data, "server.crt"), filepath.Join(data, "server.key")
	if !fileExists(caFile) || !fileExists(crt) || !fileExists(key) {
		if err := writePGCerts(caFile, crt, key); err != nil {
			return false, fmt.Errorf("postgres TLS certificates: %w", err)
		}
		changed = true
	}
	conf := filepath.Join(data, "postgresql.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		return false, err
	}
	if strings.Contains(string(b), pgTLSMarker) {
		return changed, nil
	}
	f, err := os.OpenFile(conf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.WriteString(strings.Join([]string{
		"",
		pgTLSMarker,
		"ssl = on",
		"ssl_cert_file = 'server.crt'",
		"ssl_key_file = 'server.key'",
		"",
	}, "\n"))
	return true, err
}

// writePGCerts writes a fresh pgCerts set. The server files are 0600 and
// owned by postgres, as the server refuses a key readable by others. The CA
// key is not kept: a new set is simply made if a file goes missing.
func writePGCerts(caFile, crtFile, keyFile string) error {
	caPEM, crtPEM, keyPEM, err := pgCerts()
	if err != nil {
		return err
	}
	// Server files first: a CA file on disk then always matches them.
	for _, f := range []struct {
		path string
		pem  []byte
	}{{keyFile, keyPEM}, {crtFile, crtPEM}} {
		if err := writeAtomic(f.path, f.pem, 0o600); err != nil {
			return err
		}
		if err := chownTo(f.path, "postgres"); err != nil {
			return err
		}
	}
	return writeAtomic(caFile, caPEM, 0o644)
}

// pgCerts makes a CA and a server certificate for 127.0.0.1 and localhost
// that it signs, all ECDSA P-256, valid for ten years (a test stack).
func pgCerts() (caPEM, crtPEM, keyPEM []byte, err error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "pangate local stack CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP(host)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: srvKeyDER}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

// writeAtomic replaces path by renaming a finished file over it, so a reader
// never sees half a certificate.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
