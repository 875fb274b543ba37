package launch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec says how to run one process.
type Spec struct {
	Name string   // for messages: "gateway", "approver a1"
	Bin  string   // the binary
	Args []string // its arguments
	// Env is the whole environment; nil: Environ with no prefix removed.
	Env []string
	// LogFile, when set, also receives every output line (the demo keeps logs/<name>.log).
	LogFile string
	// OnLine sees every output line (stdout and stderr, in order) as it is read, before waiters do.
	OnLine func(line string)
	// Setpgid starts the process in a group of its own, so Stop and Kill reach its children too.
	Setpgid bool
}

// Proc is a running (or ended) service process with its output lines kept in memory.
type Proc struct {
	Spec Spec
	Cmd  *exec.Cmd

	done    chan struct{}
	waitErr error

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every line and at exit
}

// Start runs s and reads its output until it exits.
func Start(s Spec) (*Proc, error) {
	p := &Proc{Spec: s, done: make(chan struct{}), changed: make(chan struct{})}
	cmd := exec.Command(s.Bin, s.Args...)
	cmd.Env = s.Env
	if cmd.Env == nil {
		cmd.Env = Environ(nil)
	}
	if s.Setpgid {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	var logf *os.File
	if s.LogFile != "" {
		f, err := os.Create(s.LogFile)
		if err != nil {
			return nil, fmt.Errorf("launch: log of %s: %w", s.Name, err)
		}
		logf = f
	}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		if logf != nil {
			logf.Close()
		}
		return nil, fmt.Errorf("launch: start %s (%s): %w", s.Name, s.Bin, err)
	}
	p.Cmd = cmd
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			if logf != nil {
				_, _ = logf.WriteString(line + "\n")
			}
			if s.OnLine != nil {
				s.OnLine(line)
			}
			p.mu.Lock()
			p.lines = append(p.lines, line)
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	go func() {
		err := cmd.Wait()
		_ = w.Close()
		<-read // every line is in p.lines before done closes
		if logf != nil {
			logf.Close()
		}
		p.mu.Lock()
		p.waitErr = err
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited and its output has been read.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Alive reports whether the process still runs.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Lines returns the output lines so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Tail returns the last n output lines, one a line.
func (p *Proc) Tail(n int) string {
	l := p.Lines()
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// signal sends sig to the process (or its group with Setpgid).
func (p *Proc) signal(sig syscall.Signal) {
	if p.Cmd == nil || p.Cmd.Process == nil {
		return
	}
	if p.Spec.Setpgid {
		_ = syscall.Kill(-p.Cmd.Process.Pid, sig)
		return
	}
	_ = p.Cmd.Process.Signal(sig)
}

// Kill sends SIGKILL (no clean shutdown: kill -9) and waits until the process is gone.
func (p *Proc) Kill() {
	if !p.Alive() {
		return
	}
	p.signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to grace for a clean exit, then kills. It reports whether the process
// exited by itself within grace (false also when it had already exited before Stop).
func (p *Proc) Stop(grace time.Duration) bool {
	if !p.Alive() {
		return false
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}

// ExitErr is what the process's Wait returned (nil while it runs or after a clean exit).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// ErrExited is wrapped by a wait that ended because the process exited.
var ErrExited = errors.New("process exited")

// WaitLog waits until an output line that is a JSON object satisfies match and returns that object. Lines
// already read count. It fails when the process exits or timeout passes first, with the log's tail.
func (p *Proc) WaitLog(what string, timeout time.Duration, match func(map[string]any) bool) (map[string]any, error) {
	deadline := time.After(timeout)
	next := 0
	for {
		p.mu.Lock()
		lines, changed := p.lines[next:], p.changed
		next = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && match(m) {
				return m, nil
			}
		}
		if !p.Alive() {
			return nil, fmt.Errorf("%w: %s ended (%v) before %s; last lines:\n%s", ErrExited, p.Spec.Name, p.ExitErr(), what, p.Tail(40))
		}
		select {
		case <-changed:
		case <-deadline:
			return nil, fmt.Errorf("%s: no %s within %s; last lines:\n%s", p.Spec.Name, what, timeout, p.Tail(40))
		}
	}
}

// WaitMsg is WaitLog for the first line whose "msg" is msg.
func (p *Proc) WaitMsg(msg string, timeout time.Duration) (map[string]any, error) {
	return p.WaitLog(fmt.Sprintf("log line %q", msg), timeout, func(m map[string]any) bool { return m["msg"] == msg })
}

// WaitHTTP waits until GET url answers 200 (e.g. an ops server's /readyz).
func (p *Proc) WaitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if !p.Alive() {
			return fmt.Errorf("%w: %s ended (%v) before %s answered 200; last lines:\n%s", ErrExited, p.Spec.Name, p.ExitErr(), url, p.Tail(40))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s did not answer 200 within %s (last: %s); last lines:\n%s", p.Spec.Name, url, timeout, last, p.Tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
