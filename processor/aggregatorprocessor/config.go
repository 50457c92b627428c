// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package aggregatorprocessor // import "github.com/ebpf-otel/ebpf-otel/processor/aggregatorprocessor"

import (
	"errors"
	"fmt"
	"math"
	"time"

	sidecarv1 "github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1"
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

// Granularity says how finely locations are told apart when merging.
type Granularity string

const (
	GranularityAddress  Granularity = "address"
	GranularityLine     Granularity = "line"
	GranularityFunction Granularity = "function"
)

// Config is the processor's configuration.
type Config struct {
	// ClientConfig is how to reach the sidecar: endpoint, protocol,
	// timeout and on_error.
	sidecar.ClientConfig `mapstructure:",squash"`

	// Window is how long samples are merged before they are passed on; 0
	// merges each batch on its own.
	Window time.Duration `mapstructure:"window"`
	// Granularity is address (default), line or function.
	Granularity Granularity `mapstructure:"granularity"`
	// TopN keeps the N heaviest stacks per profile; 0 keeps all.
	TopN uint32 `mapstructure:"top_n"`
	// MinShare drops stacks below this share of a profile's total (0..1).
	// Dropped stacks are folded into one "[other]" sample.
	MinShare float64 `mapstructure:"min_share"`
	// KeepTimestamps keeps per-sample timestamps.
	KeepTimestamps bool `mapstructure:"keep_timestamps"`
	// MaxSeries bounds the distinct series a window holds; past it the
	// window is flushed early. 0 means the sidecar's default (200000).
	MaxSeries uint64 `mapstructure:"max_series"`
}

// DefaultEndpoint is where `ebpf-otel-sidecar serve` listens by default.
const DefaultEndpoint = sidecar.DefaultEndpoint

func createDefaultConfig() *Config {
	return &Config{
		ClientConfig: sidecar.DefaultClientConfig(),
		Granularity:  GranularityAddress,
	}
}

// Validate checks the configuration; each message names the key and the fix.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, c.ClientConfig.Validate()...)
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("window must be 0 (each batch on its own) or positive, e.g. 10s (got %v)", c.Window))
	} else if c.Window > 0 && c.Window < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("window must be at least 100ms, e.g. 10s (got %v)", c.Window))
	}
	if c.granularity() == sidecarv1.Granularity_GRANULARITY_UNSPECIFIED {
		errs = append(errs, fmt.Errorf("granularity %q is not one of address, line, function", c.Granularity))
	}
	if math.IsNaN(c.MinShare) || c.MinShare < 0 || c.MinShare >= 1 {
		errs = append(errs, fmt.Errorf("min_share must be at least 0 and below 1, e.g. 0.001 (got %v)", c.MinShare))
	}
	return errors.Join(errs...)
}

func (c *Config) granularity() sidecarv1.Granularity {
	switch c.Granularity {
	case GranularityAddress, "":
		return sidecarv1.Granularity_GRANULARITY_ADDRESS
	case GranularityLine:
		return sidecarv1.Granularity_GRANULARITY_LINE
	case GranularityFunction:
		return sidecarv1.Granularity_GRANULARITY_FUNCTION
	}
	return sidecarv1.Granularity_GRANULARITY_UNSPECIFIED
}

func (c *Config) options() *sidecarv1.AggregateOptions {
	return &sidecarv1.AggregateOptions{
		WindowMs:       uint64(c.Window.Milliseconds()), //nolint:gosec // validated non-negative
		Granularity:    c.granularity(),
		TopN:           c.TopN,
		MinShare:       c.MinShare,
		KeepTimestamps: c.KeepTimestamps,
		MaxSeries:      c.MaxSeries,
	}
}
