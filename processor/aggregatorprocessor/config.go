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
type OnError string

const (
	// OnErrorPassThrough passes the batch on unmerged (the default).
	OnErrorPassThrough OnError = "pass_through"
	// OnErrorDrop drops the batch and reports success upstream.
	OnErrorDrop OnError = "drop"
	// OnErrorError returns the error upstream (the receiver may retry).
	OnErrorError OnError = "error"
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
	// Endpoint is the sidecar: "http://HOST:PORT" or "unix:///PATH".
	Endpoint string `mapstructure:"endpoint"`
	// Protocol is connect (default), grpc or grpc_web.
	Protocol sidecar.Protocol `mapstructure:"protocol"`
	// Timeout bounds each call to the sidecar.
	Timeout time.Duration `mapstructure:"timeout"`
	// OnError is pass_through (default), drop or error.
	OnError OnError `mapstructure:"on_error"`

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
const DefaultEndpoint = "http://127.0.0.1:4319"

func createDefaultConfig() *Config {
	return &Config{
		Endpoint:    DefaultEndpoint,
		Protocol:    sidecar.ProtocolConnect,
		Timeout:     5 * time.Second,
		OnError:     OnErrorPassThrough,
		Granularity: GranularityAddress,
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
