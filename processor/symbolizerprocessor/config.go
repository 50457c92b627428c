// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package symbolizerprocessor // import "github.com/ebpf-otel/ebpf-otel/processor/symbolizerprocessor"

import (
	"errors"
	"fmt"
	"path"

	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecar"
)

// OnError says what happens to a batch the sidecar did not take.
type OnError = sidecar.OnError

// The on_error choices.
const (
	OnErrorPassThrough = sidecar.OnErrorPassThrough
	OnErrorDrop        = sidecar.OnErrorDrop
	OnErrorError       = sidecar.OnErrorError
)

// Config is the processor's configuration.
type Config struct {
	// ClientConfig is how to reach the sidecar: endpoint, protocol,
	// timeout and on_error.
	sidecar.ClientConfig `mapstructure:",squash"`

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
const DefaultEndpoint = sidecar.DefaultEndpoint

func createDefaultConfig() *Config {
	return &Config{
		ClientConfig: sidecar.DefaultClientConfig(),
		Demangle:     true,
		InlineFrames: true,
	}
}

// Validate checks the configuration; each message names the key and the fix.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, c.ClientConfig.Validate()...)
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
