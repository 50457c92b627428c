// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

//go:build unix

// Package sidecartest runs the real TypeScript sidecar (processor-ts) for
// tests: it builds the package when its output is missing or stale, starts
// `node dist/main.js serve` on a unix socket and stops or kills it.
package sidecartest // import "github.com/ebpf-otel/ebpf-otel/processor/internal/sidecartest"

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var buildOnce sync.Once

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Main returns processor-ts/dist/main.js, running `npm run -w processor-ts
// build` first when it is missing or older than any source file.
func Main(t testing.TB) string {
	t.Helper()
	root := RepoRoot()
	main := filepath.Join(root, "processor-ts", "dist", "main.js")
	var err error
	buildOnce.Do(func() {
		// Test binaries of other packages may build at the same time.
		unlock, e := lockBuild()
		if e != nil {
			err = e
			return
		}
		defer unlock()
		if !stale(main, filepath.Join(root, "processor-ts", "src")) {
			return
		}
		cmd := exec.Command("npm", "run", "-w", "processor-ts", "build")
		cmd.Dir = root
		if out, e := cmd.CombinedOutput(); e != nil {
			err = fmt.Errorf("building processor-ts: %w\n%s", e, out)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return main
}

func stale(target, srcDir string) bool {
	st, err := os.Stat(target)
	if err != nil {
		return true
	}
	newer := errors.New("newer")
	walkErr := filepath.WalkDir(srcDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".ts") || strings.HasSuffix(p, ".test.ts") {
			return err
		}
		if info, e := d.Info(); e == nil && info.ModTime().After(st.ModTime()) {
			return newer
		}
		return nil
	})
	return walkErr != nil
}

// Sidecar is a running sidecar process.
type Sidecar struct {
	Socket string
	cmd    *exec.Cmd
	done   chan struct{}
	Stderr *strings.Builder
	mu     *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Logs returns what the sidecar wrote to stderr so far.
func (s *Sidecar) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Stderr.String()
}

// Start runs the sidecar on the unix socket sock (no TCP) and waits until
// the socket exists. The process is killed when the test ends.
func Start(t testing.TB, sock string, extra ...string) *Sidecar {
	t.Helper()
	main := Main(t)
	args := append([]string{main, "serve", "--no-tcp", "--unix", sock}, extra...)
	cmd := exec.Command("node", args...)
	s := &Sidecar{Socket: sock, cmd: cmd, done: make(chan struct{}), Stderr: &strings.Builder{}, mu: &sync.Mutex{}}
	cmd.Stderr = lockedWriter{s.mu, s.Stderr}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sidecar: %v", err)
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Kill)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 && strings.Contains(s.Logs(), "sidecar listening") {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("sidecar exited early: %s", s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			t.Fatalf("sidecar did not listen on %s within 20s: %s", sock, s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits for a graceful exit.
func (s *Sidecar) Stop(ctx context.Context) error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-s.done:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("sidecar exited with %d: %s", code, s.Logs())
		}
		return nil
	case <-ctx.Done():
		s.Kill()
		return ctx.Err()
	}
}

// Kill ends the process at once (as a crash would) and waits for it.
func (s *Sidecar) Kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// BuildLockPath is the file test processes lock (flock) while they build
// processor-ts, so that concurrent `go test` packages do not race.
var BuildLockPath = filepath.Join(os.TempDir(), "ebpf-otel-processor-ts-build.lock")

func lockBuild() (func(), error) {
	f, err := os.OpenFile(BuildLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
