// Package cli is the command-line plumbing every pangate binary shares, so that the four main.go files only
// pick a subcommand and map its error to the exit status that docs/configuration.md and integration/cli
// hold every binary to:
//
//	0  success, and -h (the flag package printed the usage)
//	2  usage or configuration error, printed as text naming the setting
//	1  runtime failure
//
// A subcommand returns an error; Exit prints it once as "<binary>: <error>" and returns the status. Usage
// marks a mistake the operator must fix (exit 2); Reported marks an error the subcommand already showed in
// its own form (a JSON log line, the flag package's message, a report), which Exit does not print again.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// UsageError is a usage or configuration mistake: exit status 2.
type UsageError struct{ Err error }

func (u UsageError) Error() string { return u.Err.Error() }
func (u UsageError) Unwrap() error { return u.Err }

// Usage marks err as a usage or configuration mistake (exit 2); nil stays nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return UsageError{err}
}

// Usagef is Usage(fmt.Errorf(format, a...)).
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// Reported is an error the subcommand has already shown the operator in its own form; Exit prints nothing
// and returns Status (1 when zero).
type Reported struct {
	Err    error
	Status int
}

func (r Reported) Error() string {
	if r.Err == nil {
		return fmt.Sprintf("exit status %d", r.Status)
	}
	return r.Err.Error()
}
func (r Reported) Unwrap() error { return r.Err }

// Code is err's exit status: 0 for nil or flag.ErrHelp, 2 for a UsageError or an error that is one of
// configErrs (a service's sentinels for configuration mistakes, such as a refused login), the Status of a
// Reported error, 1 for anything else.
func Code(err error, configErrs ...error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var r Reported
	if errors.As(err, &r) && r.Status != 0 {
		return r.Status
	}
	var u UsageError
	if errors.As(err, &u) {
		return 2
	}
	for _, c := range configErrs {
		if errors.Is(err, c) {
			return 2
		}
	}
	return 1
}

// Exit prints err to w as "<name>: <err>" (unless it is nil, flag.ErrHelp or Reported) and returns its
// exit status (Code).
func Exit(name string, w io.Writer, err error, configErrs ...error) int {
	code := Code(err, configErrs...)
	var r Reported
	if code != 0 && !errors.As(err, &r) {
		fmt.Fprintln(w, name+":", err)
	}
	return code
}

// Parse parses a subcommand's flags, which take no positional argument. A bad flag is a UsageError (the
// flag package printed it and the usage to fs.Output()), -h is flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{err}
	}
	if fs.NArg() > 0 {
		return UsageError{fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// ParseFlags parses flags as flag.ExitOnError does, without exiting: -h is flag.ErrHelp, a bad flag is
// Reported with status 2 because the flag package has printed it and the usage already. Positional
// arguments are left in fs.Args() for the caller.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return Reported{Err: err, Status: 2}
	}
	return nil
}

// ParseInterleaved parses flags that may come before or after positional arguments and returns the
// positional ones. A bad flag is a UsageError, -h is flag.ErrHelp.
func ParseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, UsageError{err}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// Logger is the services' JSON logger on w at level: debug, info, warn or error, in any case. An empty or
// unknown level gives an info logger and an error saying what to use; a caller whose level comes from a
// validated configuration (where empty means info) may ignore it.
func Logger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	var err error
	if err = l.UnmarshalText([]byte(level)); err != nil {
		l, err = slog.LevelInfo, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), err
}

// SignalContext is cancelled by SIGINT or SIGTERM, which a service takes as "stop cleanly"; stop releases
// the signals.
func SignalContext() (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
