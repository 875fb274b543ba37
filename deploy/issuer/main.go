// Command issuer is pangate's development OIDC issuer: it serves discovery and JWKS like a real issuer, and
// loopback-only steering endpoints to mint tokens (POST /mint), rotate keys (POST /rotate), retire old keys
// (POST /retire) and list them (GET /keys). Tests and the demo use it; never expose it beyond loopback.
//
//	go run ./deploy/issuer -addr 127.0.0.1:0 [-issuer URL] [-url-file FILE] [-alg RS256|ES256|EdDSA]
//
// Once listening it prints its issuer URL on stdout (and writes it to -url-file, if given).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pangate/pangate/gateway/auth/authtest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	issuerURL := flag.String("issuer", "", "issuer identifier URL (default http://<listen address>)")
	urlFile := flag.String("url-file", "", "write the issuer URL to this file once listening")
	alg := flag.String("alg", "RS256", "signing algorithm: RS256, ES256 or EdDSA")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("issuer: ")

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen %s: %v", *addr, err)
	}
	url := *issuerURL
	if url == "" {
		url = "http://" + ln.Addr().String()
	}
	iss, err := authtest.NewIssuer(url, *alg)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: iss.Handler(), ReadHeaderTimeout: 5 * time.Second}
	if *urlFile != "" {
		// Write-then-rename so a reader polling for the file never sees half a URL.
		tmp := *urlFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(url+"\n"), 0o644); err != nil {
			log.Fatalf("url file: %v", err)
		}
		if err := os.Rename(tmp, *urlFile); err != nil {
			log.Fatalf("url file: %v", err)
		}
	}
	fmt.Println(url)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
