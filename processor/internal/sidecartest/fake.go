// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package sidecartest

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/grpchealth"
)

// Route is one service of a fake sidecar, as the generated
// sidecarv1connect.New*ServiceHandler functions return it:
// Route(sidecarv1connect.NewSymbolizerServiceHandler(fake)).
type Route struct {
	Path    string
	Handler http.Handler
}

// NewRoute pairs a path with its handler.
func NewRoute(path string, h http.Handler) Route { return Route{Path: path, Handler: h} }

// FakeServer serves fakes of the sidecar's services, and the gRPC health
// service reporting them SERVING, over HTTP/1.1 and h2c, on a unix socket
// or loopback TCP. It can be stopped and started again on the same
// address (a sidecar restart). The fakes stand in for the sidecar only in
// tests of the processors' own behaviour (timeouts, on_error, windows);
// the real sidecar is exercised through Start.
type FakeServer struct {
	// Health answers the health checks: every route's service SERVING
	// unless a test sets another status.
	Health *grpchealth.StaticChecker

	t       testing.TB
	network string
	addr    string
	mux     *http.ServeMux
	srv     *http.Server
}

// ServeFake starts a fake sidecar serving routes on network "unix" (a
// socket in a temporary directory) or "tcp" (a free loopback port); it
// stops when the test ends.
func ServeFake(t testing.TB, network string, routes ...Route) *FakeServer {
	t.Helper()
	f := &FakeServer{t: t, network: network, mux: http.NewServeMux()}
	var names []string
	for _, r := range routes {
		f.mux.Handle(r.Path, r.Handler)
		names = append(names, r.Path[1:len(r.Path)-1]) // "/pkg.Service/" → "pkg.Service"
	}
	f.Health = grpchealth.NewStaticChecker(names...)
	f.mux.Handle(grpchealth.NewHandler(f.Health))
	switch network {
	case "unix":
		f.addr = filepath.Join(t.TempDir(), "sidecar.sock")
	case "tcp":
		f.addr = "127.0.0.1:0"
	default:
		t.Fatalf("sidecartest: network %q is neither unix nor tcp", network)
	}
	f.Start()
	t.Cleanup(f.Stop)
	return f
}

// Endpoint is the processors' endpoint setting for the server.
func (f *FakeServer) Endpoint() string {
	if f.network == "unix" {
		return "unix://" + f.addr
	}
	return "http://" + f.addr
}

// Start serves again after Stop, on the same address.
func (f *FakeServer) Start() {
	f.t.Helper()
	l, err := net.Listen(f.network, f.addr)
	if err != nil {
		f.t.Fatalf("sidecartest: listening on %s %s: %v", f.network, f.addr, err)
	}
	f.addr = l.Addr().String() // the port chosen for "127.0.0.1:0"
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	f.srv = &http.Server{Handler: f.mux, Protocols: &p, ReadHeaderTimeout: time.Second}
	srv := f.srv
	go func() { _ = srv.Serve(l) }()
}

// Stop closes the listener and every connection; safe to call twice.
func (f *FakeServer) Stop() {
	if f.srv == nil {
		return
	}
	_ = f.srv.Close()
	f.srv = nil
	if f.network == "unix" {
		_ = os.Remove(f.addr)
	}
}
