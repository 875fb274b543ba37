package bucket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// AccessLogs says where the package bucket's server access logs are: downloads of evidence packages are
// accesses to audit logs (PCI DSS 10.2.1.3), and the bucket's server, not the reporter, sees them. Set
// Bucket (and Prefix) for logs an S3 server delivers as objects, the AWS way (the package bucket's
// "server access logging" target bucket and prefix; MinIO: an audit webhook or bucket notification
// writing there), read with the package bucket's endpoint and keys; or File for a log file the server
// writes (versitygw --access-log FILE, as the local stack runs it). docs/evidence.md, "Package downloads".
type AccessLogs struct {
	Bucket string `yaml:"bucket"`
	Prefix string `yaml:"prefix"`
	File   string `yaml:"file"`
}

// Configured reports whether a location is set.
func (a AccessLogs) Configured() bool { return a.Bucket != "" || a.File != "" }

// Download is one GET of a package object, from the server's access log.
type Download struct {
	Time      time.Time
	Requester string // the access key (versitygw) or IAM principal / canonical user id (AWS)
	RemoteIP  string
	Bucket    string
	Key       string // the object: packages/<kind>/<period>/v<N>/<file>
	Package   string // packages/<kind>/<period>/v<N>/
	Operation string // REST.GET.OBJECT (AWS) or s3_GetObject (versitygw)
	Status    int
	ErrorCode string
	Bytes     int64 // bytes sent (versitygw v1.8.0 logs 0 for objects it streams)
	RequestID string
	UserAgent string
}

// Downloader lists the downloads of packages in a period; Local and S3Store implement it when their
// Config has AccessLogs.
type Downloader interface {
	// HasAccessLogs reports whether a location is configured.
	HasAccessLogs() bool
	// Downloads returns every GET of an object under Prefix in [from, to), in time order, and where the
	// records were read from (for the package's manifest).
	Downloads(ctx context.Context, from, to time.Time) ([]Download, string, error)
}

// ErrAccessLog is returned for an access log that cannot be read.
var ErrAccessLog = errors.New("bucket: access log")

// AccessRecord is one line of an S3 server access log, in the AWS format
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html); versitygw writes the same
// fields in the same order with the request URI, referrer and user agent unquoted, its operation names
// (s3_GetObject), the requester's access key as bucket owner, 0 bytes sent for streamed objects and the
// long month name in the time.
type AccessRecord struct {
	Owner, Bucket                  string
	Time                           time.Time
	RemoteIP, Requester, RequestID string
	Operation, Key, RequestURI     string
	Status                         int
	ErrorCode                      string
	Bytes                          int64
	UserAgent                      string
}

// ParseAccessLog calls fn for every record of an S3 server access log. Lines that are not records
// (versitygw's "log starts …" marks, blank lines) are skipped; a record line that does not parse is an
// error naming its line number.
func ParseAccessLog(r io.Reader, fn func(AccessRecord) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "log starts ") {
			continue
		}
		rec, err := parseAccessLine(line)
		if err != nil {
			return fmt.Errorf("%w: line %d: %v", ErrAccessLog, n, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return sc.Err()
}

// accessTimeLayouts: AWS writes 06/Feb/2019:00:00:38 +0000, versitygw 06/February/2019:00:00:38 +0000.
var accessTimeLayouts = []string{"02/Jan/2006:15:04:05 -0700", "02/January/2006:15:04:05 -0700"}

func parseAccessLine(line string) (AccessRecord, error) {
	f := accessFields(line)
	if len(f) < 12 {
		return AccessRecord{}, fmt.Errorf("%d fields, want at least 12 (owner, bucket, [time], ip, requester, request id, operation, key, request-uri, status, error, bytes): %.80q", len(f), line)
	}
	var rec AccessRecord
	ts := strings.TrimSuffix(strings.TrimPrefix(f[2], "["), "]")
	var err error
	for _, l := range accessTimeLayouts {
		if rec.Time, err = time.Parse(l, ts); err == nil {
			break
		}
	}
	if err != nil {
		return AccessRecord{}, fmt.Errorf("time %q is not dd/Mon/yyyy:hh:mm:ss ±hhmm", ts)
	}
	rec.Time = rec.Time.UTC()
	rec.Owner, rec.Bucket = dash(f[0]), dash(f[1])
	rec.RemoteIP, rec.Requester, rec.RequestID, rec.Operation = dash(f[3]), dash(f[4]), dash(f[5]), dash(f[6])
	rec.Key = dash(f[7])
	if k, err := url.PathUnescape(rec.Key); err == nil {
		rec.Key = k // AWS writes the key URL-encoded
	}
	rec.RequestURI = strings.Trim(f[8], `"`)
	if rec.Status, err = strconv.Atoi(f[9]); err != nil {
		return AccessRecord{}, fmt.Errorf("HTTP status %q is not a number", f[9])
	}
	rec.ErrorCode = dash(f[10])
	if b := dash(f[11]); b != "" {
		rec.Bytes, _ = strconv.ParseInt(b, 10, 64)
	}
	if len(f) > 16 {
		// With versitygw's unquoted user agent, a user agent with spaces spans several fields: only the
		// first word is certain.
		rec.UserAgent = dash(strings.Trim(f[16], `"`))
	}
	return rec, nil
}

// accessFields splits a log line on spaces, keeping [bracketed] and "quoted" fields whole.
func accessFields(line string) []string {
	var out []string
	for i := 0; i < len(line); {
		if line[i] == ' ' {
			i++
			continue
		}
		end := byte(' ')
		switch line[i] {
		case '[':
			end = ']'
		case '"':
			end = '"'
		}
		j := i + 1
		for j < len(line) && line[j] != end {
			j++
		}
		if end != ' ' && j < len(line) {
			j++ // keep the closing bracket or quote
		}
		out = append(out, line[i:j])
		i = j
	}
	return out
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// isDownload: a GET of a package object (AWS REST.GET.OBJECT, versitygw v1.8.0 s3_GetObject), whatever
// its status: refused attempts are accesses too.
func isDownload(r AccessRecord) bool {
	switch r.Operation {
	case "REST.GET.OBJECT", "s3_GetObject", "GetObject":
		return strings.HasPrefix(r.Key, Prefix+"/")
	}
	return false
}

// packageOf returns the package prefix packages/<kind>/<period>/v<N>/ of key, or key itself.
func packageOf(key string) string {
	parts := strings.SplitN(key, "/", 5)
	if len(parts) < 5 {
		return key
	}
	return strings.Join(parts[:4], "/") + "/"
}

// collect reads downloads of bucket (any bucket when empty) in [from, to) from one log.
func collect(r io.Reader, bucket string, from, to time.Time, out *[]Download) error {
	return ParseAccessLog(r, func(rec AccessRecord) error {
		if !isDownload(rec) || (bucket != "" && rec.Bucket != bucket) || rec.Time.Before(from) || !rec.Time.Before(to) {
			return nil
		}
		*out = append(*out, Download{Time: rec.Time, Requester: rec.Requester, RemoteIP: rec.RemoteIP, Bucket: rec.Bucket, Key: rec.Key,
			Package: packageOf(rec.Key), Operation: rec.Operation, Status: rec.Status, ErrorCode: rec.ErrorCode, Bytes: rec.Bytes,
			RequestID: rec.RequestID, UserAgent: rec.UserAgent})
		return nil
	})
}

func sortDownloads(ds []Download) {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Time.Before(ds[j].Time) })
}

// downloadsFromFile reads a local access log file.
func downloadsFromFile(path, bucket string, from, to time.Time) ([]Download, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v: check bucket.access_logs.file (the S3 server's --access-log file)", ErrAccessLog, err)
	}
	defer f.Close()
	var out []Download
	if err := collect(f, bucket, from, to, &out); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	sortDownloads(out)
	return out, "file://" + path, nil
}

// Downloads lists GETs of packages from bucket.access_logs.file (a local store has no server, so only a
// file is possible).
func (l *Local) Downloads(ctx context.Context, from, to time.Time) ([]Download, string, error) {
	if l.logs.File == "" {
		return nil, "", fmt.Errorf("%w: no access log configured: set bucket.access_logs.file", ErrAccessLog)
	}
	return downloadsFromFile(l.logs.File, "", from, to)
}

// Downloads lists GETs of the package bucket's package objects from its server access logs: the log
// objects under access_logs.bucket/prefix (read with the store's client), else access_logs.file.
func (s *S3Store) Downloads(ctx context.Context, from, to time.Time) ([]Download, string, error) {
	if s.logs.Bucket == "" {
		if s.logs.File == "" {
			return nil, "", fmt.Errorf("%w: no access log configured: set bucket.access_logs.bucket (and prefix) or file", ErrAccessLog)
		}
		return downloadsFromFile(s.logs.File, s.cfg.Bucket, from, to)
	}
	var out []Download
	for obj := range s.cl.ListObjects(ctx, s.logs.Bucket, minio.ListObjectsOptions{Prefix: s.logs.Prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, "", fmt.Errorf("%w: list s3://%s/%s: %v: check bucket.access_logs.bucket and prefix and that the reporter's key may list it", ErrAccessLog, s.logs.Bucket, s.logs.Prefix, obj.Err)
		}
		o, err := s.cl.GetObject(ctx, s.logs.Bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			return nil, "", fmt.Errorf("%w: get s3://%s/%s: %v", ErrAccessLog, s.logs.Bucket, obj.Key, err)
		}
		err = collect(o, s.cfg.Bucket, from, to, &out)
		o.Close()
		if err != nil {
			return nil, "", fmt.Errorf("s3://%s/%s: %w", s.logs.Bucket, obj.Key, err)
		}
	}
	sortDownloads(out)
	return out, "s3://" + s.logs.Bucket + "/" + s.logs.Prefix, nil
}
