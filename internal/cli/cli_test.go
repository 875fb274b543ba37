package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
)

var errRefused = errors.New("refused")

// TestExit: the exit status every binary documents, and the one line it prints.
func TestExit(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		code int
		out  string
	}{
		{"success", nil, 0, ""},
		{"help", flag.ErrHelp, 0, ""},
		{"wrapped help", fmt.Errorf("serve: %w", flag.ErrHelp), 0, ""},
		{"usage", Usagef("decide needs -id"), 2, "svc: decide needs -id\n"},
		{"wrapped usage", fmt.Errorf("setup: %w", Usage(errors.New("bad key"))), 2, "svc: setup: bad key\n"},
		{"config sentinel", fmt.Errorf("login: %w", errRefused), 2, "svc: login: refused\n"},
		{"runtime", errors.New("listen: address in use"), 1, "svc: listen: address in use\n"},
		{"reported runtime", Reported{Err: errors.New("logged as JSON")}, 1, ""},
		{"reported status", Reported{Status: 2}, 2, ""},
		{"reported usage", Reported{Err: Usagef("flag provided but not defined: -x")}, 2, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var w bytes.Buffer
			if got := Exit("svc", &w, c.err, errRefused); got != c.code || w.String() != c.out {
				t.Errorf("Exit(%v) = %d, printed %q; want %d, %q", c.err, got, w.String(), c.code, c.out)
			}
		})
	}
	if Usage(nil) != nil {
		t.Error("Usage(nil) is not nil")
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"-out", "k.pem"}, 0},
		{[]string{"-h"}, 0},
		{[]string{"-bogus"}, 2},
		{[]string{"-out", "k.pem", "extra"}, 2},
	} {
		fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("out", "", "")
		err := Parse(fs, c.args)
		if got := Code(err); got != c.code {
			t.Errorf("%q: %v, exit %d, want %d", c.args, err, got, c.code)
		}
		if c.code == 0 && err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q: %v", c.args, err)
		}
	}
}

// TestParseFlags: the gateway's and indexer's flags behave as under flag.ExitOnError, printed once.
func TestParseFlags(t *testing.T) {
	for _, c := range []struct {
		args    []string
		code    int
		printed bool
	}{
		{[]string{"-config", "x.yaml", "extra"}, 0, false},
		{[]string{"-h"}, 0, true},
		{[]string{"-bogus"}, 2, true},
	} {
		var out, w bytes.Buffer
		fs := flag.NewFlagSet("indexer", flag.ContinueOnError)
		fs.SetOutput(&out)
		fs.String("config", "", "")
		err := ParseFlags(fs, c.args)
		if got := Exit("indexer", &w, err); got != c.code || w.Len() != 0 || (out.Len() > 0) != c.printed {
			t.Errorf("%q: exit %d, printed %q then %q; want %d, flag output %v, nothing more", c.args, got, out.String(), w.String(), c.code, c.printed)
		}
	}
}

func TestFlagsAfterPositional(t *testing.T) {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	key := fs.String("key", "", "")
	prev := fs.String("previous", "", "")
	pos, err := ParseInterleaved(fs, []string{"-key", "k.pub", "pkg", "-previous", "old"})
	if err != nil || *key != "k.pub" || *prev != "old" || len(pos) != 1 || pos[0] != "pkg" {
		t.Fatalf("%v %q %q %v", err, *key, *prev, pos)
	}
	fs.SetOutput(io.Discard)
	if _, err := ParseInterleaved(fs, []string{"pkg", "-bogus"}); Code(err) != 2 {
		t.Fatalf("bad flag after a positional: %v", err)
	}
}

func TestLogger(t *testing.T) {
	for _, c := range []struct {
		level     string
		debug, ok bool
	}{
		{"", false, false},
		{"info", false, true},
		{"debug", true, true},
		{"DEBUG", true, true},
		{"warn", false, true},
		{"loud", false, false},
	} {
		var w bytes.Buffer
		log, err := Logger(&w, c.level)
		if (err == nil) != c.ok {
			t.Errorf("%q: error %v", c.level, err)
		}
		log.Debug("d")
		log.Info("i")
		if got := strings.Contains(w.String(), `"msg":"d"`); got != c.debug {
			t.Errorf("%q: debug logged %v, want %v:\n%s", c.level, got, c.debug, w.String())
		}
		if c.level != "warn" && !strings.HasPrefix(w.String(), "{") {
			t.Errorf("%q: not a JSON line: %q", c.level, w.String())
		}
	}
}
