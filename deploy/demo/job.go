package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/pangate/pangate/deploy/demo/tot"
)

// The workload's identity: a Kubernetes service account of the payments namespace, which the default PCI
// policy (deploy/policy/pci.yaml, grant "workload-readers") lets read as app_reader.
const workloadSubject = "system:serviceaccount:payments:tot-nightly"

func (d *demo) mint(ctx context.Context) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"sub": workloadSubject, "aud": []string{audience}, "ttl_seconds": 900,
		"claims": map[string]any{"service_account": workloadSubject, "workflow": "tot-nightly"},
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.issuerURL+"/mint", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("mint a workload token: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("mint a workload token: %s: %s", resp.Status, b)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Token == "" {
		return "", fmt.Errorf("mint a workload token: unexpected answer")
	}
	return out.Token, nil
}

func (d *demo) job(ctx context.Context) error {
	d.step("run the nightly Tree-of-Thoughts job through the gateway (token as password, TLS)")
	token, err := d.mint(ctx)
	if err != nil {
		return err
	}
	host, port, _ := strings.Cut(d.gatewayAddr, ":")
	dsn := fmt.Sprintf("host=%s port=%s user=app_reader@payments dbname=%s sslmode=require application_name=tot-nightly password='%s'",
		host, port, d.database, token)
	fmt.Printf("   connecting as app_reader@payments with a token for %s (the token is never printed or logged)\n", workloadSubject)
	jctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	d.summary, err = tot.Run(jctx, tot.Config{DSN: dsn})
	if err != nil {
		return fmt.Errorf("%w (gateway log: %s)", err, d.gateway.log)
	}
	s := d.summary
	fmt.Printf("   explored %d thoughts, pruned %d, best path: %s\n", s.Explored, s.Pruned, strings.Join(s.Best, " → "))
	for _, e := range s.Exports {
		fmt.Printf("   export %s: %s", firstWords(e.SQL, 6), e.Outcome)
		if e.Error != "" {
			fmt.Printf(" (%s %s)", e.Code, e.Error)
		}
		fmt.Println()
	}
	return d.writeSummary(ctx)
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = append(f[:n], "…")
	}
	return strings.Join(f, " ")
}

// writeSummary puts the job's summary in the reporting bucket: the stack's S3 server with --real, a local
// directory otherwise.
func (d *demo) writeSummary(ctx context.Context) error {
	b, err := json.MarshalIndent(d.summary, "", "  ")
	if err != nil {
		return err
	}
	key := "jobs/tot-nightly/" + time.Now().UTC().Format("2006-01-02") + "/summary.json"
	if !d.o.real {
		p := filepath.Join(d.dir, "bucket", key)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		d.summaryAt = p
		fmt.Printf("   summary written to %s\n", p)
		return nil
	}
	mc, err := d.s3()
	if err != nil {
		return err
	}
	const bucketName = "pangate-reports"
	if err := d.ensureBucket(ctx, bucketName); err != nil {
		return err
	}
	if _, err := mc.PutObject(ctx, bucketName, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{ContentType: "application/json"}); err != nil {
		return err
	}
	d.summaryAt = "s3://" + bucketName + "/" + key
	fmt.Printf("   summary written to %s\n", d.summaryAt)
	return nil
}
