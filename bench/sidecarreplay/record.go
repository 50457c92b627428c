//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// record runs npm start's pipeline for a while with a recording proxy
// between the collector's processors and the sidecar.
func record(args []string) error {
	fs := newFlags("record")
	seconds := fs.Float64("seconds", 120, "how long to run the pipeline")
	out := fs.String("out", "build/replay", "directory for the recorded requests (emptied first)")
	config := fs.String("config", "config/default.yaml", "collector config whose ${env:EBPF_OTEL_SIDECAR} endpoints are pointed at the proxy")
	_ = fs.Parse(args)

	dir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	out = &dir
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	run := filepath.Join(*out, "run")
	if err := os.MkdirAll(run, 0o700); err != nil {
		return err
	}
	proxySock, upstream := filepath.Join(run, "proxy.sock"), filepath.Join(run, "sidecar.sock")
	cfg, err := os.ReadFile(*config)
	if err != nil {
		return err
	}
	if !bytes.Contains(cfg, []byte("${env:EBPF_OTEL_SIDECAR}")) {
		return fmt.Errorf("%s: no ${env:EBPF_OTEL_SIDECAR} endpoint to point at the proxy", *config)
	}
	cfgPath := filepath.Join(*out, "config.yaml")
	cfg = bytes.ReplaceAll(cfg, []byte("${env:EBPF_OTEL_SIDECAR}"), []byte("unix://"+proxySock))
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return err
	}

	ln, err := net.Listen("unix", proxySock)
	if err != nil {
		return err
	}
	var n atomic.Int64
	client := h2cClient(upstream)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		if method == "Symbolize" || method == "Aggregate" {
			name := fmt.Sprintf("%06d-%s.bin", n.Add(1), method)
			if err := os.WriteFile(filepath.Join(*out, name), body, 0o600); err != nil {
				fmt.Fprintln(os.Stderr, "record:", err)
			}
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://sidecar"+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		res, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	})}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetUnencryptedHTTP2(true)
	srv.Protocols.SetHTTP1(true)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	port, err := freePort()
	if err != nil {
		return err
	}
	telemetry, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.Command("scripts/start.sh")
	cmd.Env = append(os.Environ(), "EBPF_OTEL_CONFIG="+cfgPath, "EBPF_OTEL_RUN="+run, "EBPF_OTEL_OUT="+filepath.Join(*out, "out"),
		"EBPF_OTEL_SIDECAR_LISTEN=127.0.0.1:"+strconv.Itoa(port), "EBPF_OTEL_TELEMETRY_PORT="+strconv.Itoa(telemetry))
	logf, err := os.Create(filepath.Join(*out, "start.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	fmt.Printf("recording %.0f s of npm start's pipeline into %s\n", *seconds, *out)
	select {
	case err := <-done:
		return fmt.Errorf("scripts/start.sh exited early: %v (see %s)", err, logf.Name())
	case <-time.After(time.Duration(*seconds * float64(time.Second))):
	}
	// As Ctrl-C: the collector flushes through the still-running sidecar, then start.sh stops it.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	for _, d := range []string{"run", "out"} {
		_ = os.RemoveAll(filepath.Join(*out, d))
	}
	fmt.Printf("%d requests recorded\n", n.Load())
	return nil
}

// h2cClient speaks HTTP/2 without TLS to a unix socket, as the processors do.
func h2cClient(sock string) *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		Protocols: p,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("no TCP address")
	}
	return addr.Port, nil
}
