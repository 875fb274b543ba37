#!/usr/bin/env bash
# Writes development secrets for the gateway into deploy/gateway/dev/ (git-ignored material; never use
# them in production): a self-signed TLS certificate for localhost/127.0.0.1, the shared cancel key, a
# PAN fingerprint key and the Ed25519 checkpoint signing key.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p dev
chmod 700 dev
if [ ! -f dev/tls.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=pangate dev" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout dev/tls.key -out dev/tls.crt 2>/dev/null
  chmod 600 dev/tls.key
  echo "wrote dev/tls.crt (use it as sslrootcert with sslmode=verify-full) and dev/tls.key"
fi
[ -f dev/cancel.key ] || { head -c 32 /dev/urandom > dev/cancel.key; chmod 600 dev/cancel.key; echo "wrote dev/cancel.key"; }
[ -f dev/fingerprint.key ] || { head -c 32 /dev/urandom > dev/fingerprint.key; chmod 600 dev/fingerprint.key; echo "wrote dev/fingerprint.key"; }
[ -f dev/checkpoint.pem ] || (cd ../.. && go run ./gateway keygen -out deploy/gateway/dev/checkpoint.pem)
