// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package sidecar // import "github.com/ebpf-otel/ebpf-otel/processor/internal/sidecar"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Endpoint is where the sidecar listens.
type Endpoint struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port for tcp and the socket path for unix.
	Address string
	// BaseURL prefixes the RPC paths.
	BaseURL string
}

// ErrBadEndpoint is wrapped by every ParseEndpoint failure.
var ErrBadEndpoint = errors.New("invalid endpoint")

// ParseEndpoint accepts "unix:///path/to.sock" and "http://host:port".
// TLS is not supported: the sidecar listens on loopback or a local socket.
func ParseEndpoint(s string) (Endpoint, error) {
	if path, ok := strings.CutPrefix(s, "unix://"); ok {
		if !strings.HasPrefix(path, "/") {
			return Endpoint{}, fmt.Errorf("%w: %q: a unix endpoint needs an absolute path, as in unix:///run/ebpf-otel/sidecar.sock", ErrBadEndpoint, s)
		}
		return Endpoint{Network: "unix", Address: path, BaseURL: "http://sidecar"}, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return Endpoint{}, fmt.Errorf("%w: %q: use http://HOST:PORT or unix:///PATH", ErrBadEndpoint, s)
	}
	if u.Port() == "" {
		return Endpoint{}, fmt.Errorf("%w: %q: the port is missing, as in http://127.0.0.1:4319", ErrBadEndpoint, s)
	}
	return Endpoint{Network: "tcp", Address: u.Host, BaseURL: "http://" + u.Host}, nil
}

// NewHTTPClient returns a client speaking HTTP/2 without TLS (h2c, prior
// knowledge) to the endpoint. Close its idle connections when done.
func NewHTTPClient(ep Endpoint) *http.Client {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Protocols:       &protocols,
		MaxIdleConns:    4,
		IdleConnTimeout: 90 * time.Second,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, ep.Network, ep.Address)
		},
		HTTP2: &http.HTTP2Config{
			// Notice a dead sidecar on an idle connection.
			PingTimeout:     5 * time.Second,
			SendPingTimeout: 15 * time.Second,
		},
	}
	return &http.Client{Transport: t}
}
