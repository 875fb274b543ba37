package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"
)

// aptInstaller is implemented by services whose software is a Debian package.
type aptInstaller interface {
	aptPackages() []string
}

// installer installs what the selected services miss. The Debian packages of
// all of them go through one apt-get update and one apt-get install, run by
// the first service that needs it; the others wait for that same run.
type installer struct {
	s       *stack
	pkgs    []string
	aptOnce sync.Once
	aptErr  error
}

func (s *stack) newInstaller(svcs []service) *installer {
	in := &installer{s: s}
	for _, sv := range svcs {
		if a, ok := sv.(aptInstaller); ok && !sv.installed(s) {
			in.pkgs = append(in.pkgs, a.aptPackages()...)
		}
	}
	return in
}

func (in *installer) ensure(ctx context.Context, sv service) error {
	s := in.s
	if sv.installed(s) {
		return nil
	}
	if _, ok := sv.(aptInstaller); ok {
		in.aptOnce.Do(func() { in.aptErr = s.aptInstall(ctx, in.pkgs) })
		if in.aptErr != nil {
			return in.aptErr
		}
		return sv.install(ctx, s) // checks that the package delivered the binaries
	}
	began := time.Now()
	s.logf("installing %s (log: %s)", sv.name(), s.logFile(sv.name()+"-install"))
	if err := sv.install(ctx, s); err != nil {
		return err
	}
	s.logf("installed %s in %s", sv.name(), time.Since(began).Round(100*time.Millisecond))
	return nil
}

func (s *stack) aptInstall(ctx context.Context, pkgs []string) error {
	sort.Strings(pkgs)
	list := strings.Join(pkgs, " ")
	if os.Geteuid() != 0 {
		return errors.New("Debian packages " + list + " are missing and installing them needs root: run `apt-get install -y " + list + "` as root, then go tool task up")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("Debian packages " + list + " are missing and apt-get is not available")
	}
	began := time.Now()
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	s.logf("apt-get update (for %s; log: %s)", list, s.logFile("apt"))
	if err := s.run(ctx, "apt", env, "apt-get", "-q", "update"); err != nil {
		return err
	}
	s.logf("apt-get install %s", list)
	args := []string{"apt-get", "-q", "install", "-y", "--no-install-recommends",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}
	if err := s.run(ctx, "apt", env, append(args, pkgs...)...); err != nil {
		return err
	}
	s.logf("installed %s in %s", list, time.Since(began).Round(100*time.Millisecond))
	return nil
}
