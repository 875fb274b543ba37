// Command kafkabase is the benchmark's Kafka baseline: it produces records to the local broker with acks=all
// and an idempotent producer, from c concurrent writers that each wait for their record's acknowledgement
// before sending the next, and prints per-record latency and the broker's CPU per record (from
// /proc/<broker pid>/stat), so bench.sh can set the gateway's added latency and broker CPU beside the
// smallest possible cost of one acknowledged record.
//
//	kafkabase -mode bare  -c 1,64 -n 2000     # a bare franz-go client, one ProduceSync per record
//	kafkabase -mode audit -c 1,64 -n 2000     # the gateway's audit.Producer (sessions' Emit), group commit
//	kafkabase -mode audit -batching client -linger 1ms
//
// Records are the size of a pgbench -S query.executed event. The topic (3 partitions) is created and
// deleted by the run.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/schemas"
)

func main() {
	brokers := flag.String("brokers", os.Getenv("PANGATE_KAFKA_BROKERS"), "bootstrap brokers, comma-separated")
	mode := flag.String("mode", "bare", "bare (franz-go ProduceSync) or audit (gateway/audit sessions)")
	batching := flag.String("batching", audit.BatchGroup, "audit mode: group or client")
	linger := flag.Duration("linger", 0, "producer linger (bare, and audit with -batching client)")
	conc := flag.String("c", "1,64", "concurrent writers, comma-separated list of runs")
	n := flag.Int("n", 2000, "records per run")
	brokerPID := flag.Int("broker-pid", 0, "broker process id for CPU accounting (default: pgrep -f kafka.Kafka)")
	flag.Parse()
	if *brokers == "" {
		log.Fatal("kafkabase: no brokers: set -brokers or PANGATE_KAFKA_BROKERS (the local stack's .stack/env)")
	}
	if *brokerPID == 0 {
		*brokerPID = findBroker()
	}
	seeds := strings.Split(*brokers, ",")
	topic := fmt.Sprintf("bench.kafkabase.%d", os.Getpid())
	adm, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		log.Fatal(err)
	}
	defer adm.Close()
	ka := kadm.NewClient(adm)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	if _, err := ka.CreateTopic(ctx, 3, -1, nil, topic); err != nil {
		log.Fatalf("kafkabase: create topic %s: %v", topic, err)
	}
	cancel()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = ka.DeleteTopics(ctx, topic)
	}()
	value, err := sampleValue()
	if err != nil {
		log.Fatal(err)
	}
	for _, cs := range strings.Split(*conc, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(cs))
		if err != nil || c < 1 {
			log.Fatalf("kafkabase: -c %q: want positive integers", cs)
		}
		var w writer
		switch *mode {
		case "bare":
			w, err = newBare(seeds, topic, *linger)
		case "audit":
			w, err = newAudit(seeds, topic, *batching, *linger)
		default:
			log.Fatalf("kafkabase: -mode %q: use bare or audit", *mode)
		}
		if err != nil {
			log.Fatal(err)
		}
		// Warm up connections, metadata and the producer id outside the measurement.
		if err := w.write(0, value); err != nil {
			log.Fatalf("kafkabase: warm-up record: %v", err)
		}
		run(w, *mode, *batching, c, *n, value, *brokerPID)
		w.close()
	}
}

type writer interface {
	write(worker int, value []byte) error
	close()
}

type bare struct{ cl *kgo.Client }

func newBare(seeds []string, topic string, linger time.Duration) (*bare, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(linger), kgo.ProducerBatchCompression(kgo.NoCompression()))
	return &bare{cl}, err
}

func (b *bare) write(worker int, v []byte) error {
	return b.cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(strconv.Itoa(worker)), Value: v}).FirstErr()
}

func (b *bare) close() { b.cl.Close() }

type auditWriter struct {
	p  *audit.Producer
	mu sync.Mutex
	ss map[int]*audit.Session
}

func newAudit(seeds []string, topic, batching string, linger time.Duration) (*auditWriter, error) {
	p, err := audit.New(audit.Config{Brokers: seeds, Topic: topic, Batching: batching, Linger: linger}, nil)
	return &auditWriter{p: p, ss: map[int]*audit.Session{}}, err
}

func (a *auditWriter) write(worker int, _ []byte) error {
	a.mu.Lock()
	s := a.ss[worker]
	if s == nil {
		s = a.p.Session(schemas.NewID(), schemas.Source{Instance: "kafkabase", Version: "bench"})
		a.ss[worker] = s
	}
	a.mu.Unlock()
	_, err := s.Emit(schemas.TypeQueryExecuted, sampleEvent)
	return err
}

func (a *auditWriter) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.p.Close(ctx)
}

func run(w writer, mode, batching string, c, n int, value []byte, pid int) {
	lat := make([][]time.Duration, c)
	per := n / c
	if per < 1 {
		per = 1
	}
	var wg sync.WaitGroup
	errs := make(chan error, c)
	t0 := ticks(pid)
	start := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, per)
			for j := 0; j < per; j++ {
				s := time.Now()
				if err := w.write(i+1, value); err != nil {
					errs <- err
					return
				}
				l = append(l, time.Since(s))
			}
			lat[i] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	t1 := ticks(pid)
	close(errs)
	for err := range errs {
		log.Fatalf("kafkabase: %v", err)
	}
	var all []time.Duration
	var sum time.Duration
	for _, l := range lat {
		all = append(all, l...)
		for _, d := range l {
			sum += d
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	total := len(all)
	cpu := "?"
	if t0 >= 0 && t1 >= 0 {
		cpu = fmt.Sprintf("%.1f", float64(t1-t0)/float64(clkTck())/float64(total)*1e6)
	}
	label := mode
	if mode == "audit" {
		label += "/" + batching
	}
	fmt.Printf("kafkabase mode=%s c=%d records=%d per_s=%.0f mean_ms=%.3f p50_ms=%.3f p99_ms=%.3f broker_cpu_us=%s\n",
		label, c, total, float64(total)/elapsed.Seconds(), float64(sum)/float64(total)/1e6,
		ms(all[total/2]), ms(all[total*99/100]), cpu)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// ticks is the broker's user+system CPU in clock ticks, -1 when unknown.
func ticks(pid int) int64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the parenthesised command name, which may contain spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func clkTck() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if v, err2 := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && err2 == nil && v > 0 {
		return v
	}
	return 100
}

func findBroker() int {
	out, err := exec.Command("pgrep", "-f", "kafka.Kafka").Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.Fields(string(out) + " 0")[0])
	return pid
}

var sampleEvent = schemas.QueryExecuted{
	Statement: schemas.Statement{SQL: "SELECT abalance FROM pgbench_accounts WHERE aid = $1", Fingerprint: "a5f2c0b1d7e3f499",
		Params: []string{"?"}, Kind: "read", Tables: []string{"public.pgbench_accounts"}, Columns: []string{"public.pgbench_accounts.abalance"},
		Protocol: "simple", Index: 41},
	Role: "pangate_jit_bench_reader_0193", Outcome: "ok", CommandTag: "SELECT 1", Rows: 1, DurationUS: 180, MaskShape: "last4",
}

// sampleValue is one encoded query.executed event, the size of what the gateway writes per statement.
func sampleValue() ([]byte, error) {
	e, err := schemas.NewUnchained(schemas.NewID(), schemas.Source{Instance: "kafkabase", Version: "bench"}, schemas.TypeQueryExecuted, sampleEvent)
	if err != nil {
		return nil, err
	}
	return schemas.Marshal(e)
}
