package stack

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pangate/pangate/internal/gobuild"
)

// StartCommand is the command that starts (and installs) the local stack.
const StartCommand = "go tool task up"

// Endpoints are the addresses and credentials of the local stack's services.
type Endpoints struct {
	PGHost     string // PANGATE_PG_HOST
	PGPort     string // PANGATE_PG_PORT
	PGAdminDSN string // PANGATE_PG_ADMIN_DSN: superuser, sslmode=disable
	// PGCAFile is PANGATE_PG_CA_FILE: the PEM CA that signed PostgreSQL's server
	// certificate (for 127.0.0.1 and localhost), for sslmode=verify-full.
	// Optional: empty with a stack written before PostgreSQL served TLS.
	PGCAFile string

	KafkaBrokers []string // PANGATE_KAFKA_BROKERS, comma-separated host:port

	ClickHouseAddr             string // PANGATE_CLICKHOUSE_ADDR: native protocol host:port
	ClickHouseHTTPAddr         string // PANGATE_CLICKHOUSE_HTTP_ADDR: HTTP interface host:port (optional in old stacks)
	ClickHouseUser             string // PANGATE_CLICKHOUSE_USER: the operator, may run DDL
	ClickHousePassword         string // PANGATE_CLICKHOUSE_PASSWORD
	ClickHouseIndexerPassword  string // PANGATE_CLICKHOUSE_INDEXER_PASSWORD: user "indexer"
	ClickHouseAuditorPassword  string // PANGATE_CLICKHOUSE_AUDITOR_PASSWORD: user "auditor"
	ClickHouseReporterPassword string // PANGATE_CLICKHOUSE_REPORTER_PASSWORD: user "reporter"

	S3Endpoint  string // PANGATE_S3_ENDPOINT: host:port, plain http
	S3AccessKey string // PANGATE_S3_ACCESS_KEY
	S3SecretKey string // PANGATE_S3_SECRET_KEY
	S3Region    string // PANGATE_S3_REGION
}

// ClickHouse user names created by the local stack, besides the operator.
const (
	ClickHouseIndexer  = "indexer"  // may use database pangate_ingest only: inserts reach pangate through views
	ClickHouseAuditor  = "auditor"  // readonly, database pangate only
	ClickHouseReporter = "reporter" // readonly, database pangate only
)

// Env returns the endpoints of the local stack. It fails the test when a
// variable is missing from both the environment and the .stack/env file.
func Env(t testing.TB) Endpoints {
	t.Helper()
	e, err := LoadEndpoints()
	if err != nil {
		t.Fatalf("stack: %v; start the stack with: %s", err, StartCommand)
	}
	return e
}

var (
	envOnce sync.Once
	envVals map[string]string
	envErr  error
)

// LoadEndpoints is Env for code without a testing.TB (for example TestMain or
// a benchmark driver). It reads PANGATE_* variables, falling back to .stack/env.
func LoadEndpoints() (Endpoints, error) {
	envOnce.Do(func() { envVals, envErr = readEnvFile() })
	get := func(key string) string {
		if v, ok := os.LookupEnv(key); ok && v != "" {
			return v
		}
		return envVals[key]
	}
	var missing []string
	need := func(key string) string {
		v := get(key)
		if v == "" {
			missing = append(missing, key)
		}
		return v
	}
	e := Endpoints{
		PGHost:                     need("PANGATE_PG_HOST"),
		PGPort:                     need("PANGATE_PG_PORT"),
		PGAdminDSN:                 need("PANGATE_PG_ADMIN_DSN"),
		PGCAFile:                   get("PANGATE_PG_CA_FILE"),
		ClickHouseAddr:             need("PANGATE_CLICKHOUSE_ADDR"),
		ClickHouseHTTPAddr:         get("PANGATE_CLICKHOUSE_HTTP_ADDR"),
		ClickHouseUser:             need("PANGATE_CLICKHOUSE_USER"),
		ClickHousePassword:         need("PANGATE_CLICKHOUSE_PASSWORD"),
		ClickHouseIndexerPassword:  need("PANGATE_CLICKHOUSE_INDEXER_PASSWORD"),
		ClickHouseAuditorPassword:  need("PANGATE_CLICKHOUSE_AUDITOR_PASSWORD"),
		ClickHouseReporterPassword: need("PANGATE_CLICKHOUSE_REPORTER_PASSWORD"),
		S3Endpoint:                 need("PANGATE_S3_ENDPOINT"),
		S3AccessKey:                need("PANGATE_S3_ACCESS_KEY"),
		S3SecretKey:                need("PANGATE_S3_SECRET_KEY"),
		S3Region:                   need("PANGATE_S3_REGION"),
	}
	for _, b := range strings.Split(need("PANGATE_KAFKA_BROKERS"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			e.KafkaBrokers = append(e.KafkaBrokers, b)
		}
	}
	if len(missing) > 0 {
		where := "the environment"
		if envErr != nil {
			where += " (and " + envErr.Error() + ")"
		} else {
			where += " and " + envFilePath
		}
		return e, fmt.Errorf("%s not set in %s", strings.Join(missing, ", "), where)
	}
	return e, nil
}

var envFilePath string

// ModuleRoot returns the directory holding go.mod, found by walking up from the working directory (go test
// runs each package in its own directory).
func ModuleRoot() (string, error) { return gobuild.ModuleRoot() }

func readEnvFile() (map[string]string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	envFilePath = filepath.Join(root, ".stack", "env")
	f, err := os.Open(envFilePath)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", envFilePath, err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := parseEnvLine(sc.Text())
		if ok {
			vals[k] = v
		}
	}
	return vals, sc.Err()
}

// parseEnvLine reads one KEY=value line as written by the stack (optionally
// prefixed by "export " and with the value in single or double quotes).
func parseEnvLine(line string) (key, value string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", false
	}
	line = strings.TrimPrefix(line, "export ")
	key, value, ok = strings.Cut(line, "=")
	if !ok || key == "" {
		return "", "", false
	}
	if n := len(value); n >= 2 && (value[0] == '\'' || value[0] == '"') && value[n-1] == value[0] {
		value = value[1 : n-1]
	}
	return strings.TrimSpace(key), value, true
}
