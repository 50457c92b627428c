// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package symbolizerprocessor // import "github.com/ebpf-otel/ebpf-otel/processor/symbolizerprocessor"

import (
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecar"
)

// OnError says what happens to a batch the sidecar did not symbolize.
type OnError string

const (
	// OnErrorPassThrough passes the batch on unsymbolized (the default).
	OnErrorPassThrough OnError = "pass_through"
	// OnErrorDrop drops the batch and reports success upstream.
	OnErrorDrop OnError = "drop"
	// OnErrorError returns the error upstream (the receiver may retry).
	OnErrorError OnError = "error"
)

// Config is the processor's configuration.
type Config struct {
	// Endpoint is the sidecar: "http://HOST:PORT" or "unix:///PATH".
	Endpoint string `mapstructure:"endpoint"`
	// Protocol is connect (default), grpc or grpc_web.
	Protocol sidecar.Protocol `mapstructure:"protocol"`
	// Timeout bounds each call to the sidecar.
	Timeout time.Duration `mapstructure:"timeout"`
	// OnError is pass_through (default), drop or error.
	OnError OnError `mapstructure:"on_error"`

	// Demangle C++ and Rust names (the mangled name stays the system name).
	Demangle bool `mapstructure:"demangle"`
	// InlineFrames emits a line per inlined frame.
	InlineFrames bool `mapstructure:"inline_frames"`
	// DebugDirs are searched for separate debug files before /usr/lib/debug.
	DebugDirs []string `mapstructure:"debug_dirs"`
	// Roots, when set, are the only directories object files are read from.
	Roots []string `mapstructure:"roots"`
	// MaxFileBytes caps the size of files read; 0 means the sidecar's default.
	MaxFileBytes uint64 `mapstructure:"max_file_bytes"`
}

// DefaultEndpoint is where `ebpf-otel-sidecar serve` listens by default.
const DefaultEndpoint = "http://127.0.0.1:4319"

func createDefaultConfig() *Config {
	return &Config{
		Endpoint:     DefaultEndpoint,
		Protocol:     sidecar.ProtocolConnect,
		Timeout:      5 * time.Second,
		OnError:      OnErrorPassThrough,
		Demangle:     true,
		InlineFrames: true,
	}
}

// Validate checks the configuration; each message names the key and the fix.
func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint must be set, e.g. http://127.0.0.1:4319 or unix:///run/ebpf-otel/sidecar.sock"))
	} else if _, err := sidecar.ParseEndpoint(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint: %w", err))
	}
	switch c.Protocol {
	case sidecar.ProtocolConnect, sidecar.ProtocolGRPC, sidecar.ProtocolGRPCWeb:
	default:
		errs = append(errs, fmt.Errorf("protocol %q is not one of connect, grpc, grpc_web", c.Protocol))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout must be positive, e.g. 5s (got %v)", c.Timeout))
	}
	switch c.OnError {
	case OnErrorPassThrough, OnErrorDrop, OnErrorError:
	default:
		errs = append(errs, fmt.Errorf("on_error %q is not one of pass_through, drop, error", c.OnError))
	}
	for _, d := range c.DebugDirs {
		if !path.IsAbs(d) {
			errs = append(errs, fmt.Errorf("debug_dirs: %q is not an absolute path", d))
		}
	}
	for _, r := range c.Roots {
		if !path.IsAbs(r) {
			errs = append(errs, fmt.Errorf("roots: %q is not an absolute path", r))
		}
	}
	return errors.Join(errs...)
}
