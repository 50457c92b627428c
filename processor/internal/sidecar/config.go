// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package sidecar

import (
	"errors"
	"fmt"
	"time"
)

// OnError says what a processor does with a batch the sidecar did not take.
type OnError string

const (
	// OnErrorPassThrough passes the batch on unprocessed (the default):
	// nothing is lost while the sidecar is away.
	OnErrorPassThrough OnError = "pass_through"
	// OnErrorDrop drops the batch and reports success upstream.
	OnErrorDrop OnError = "drop"
	// OnErrorError returns the error upstream (the receiver may retry).
	OnErrorError OnError = "error"
)

// DefaultEndpoint is where `ebpf-otel-sidecar serve` serves the RPCs by
// default: its unix socket (its TCP port serves only the flame graph page,
// /metrics and health).
const DefaultEndpoint = "unix:///run/ebpf-otel/sidecar.sock"

// ClientConfig is the part of a processor's configuration that says how to
// reach the sidecar; processors embed it with `mapstructure:",squash"`.
type ClientConfig struct {
	// Endpoint is the sidecar: "http://HOST:PORT" or "unix:///PATH".
	Endpoint string `mapstructure:"endpoint"`
	// Protocol is connect (default), grpc or grpc_web.
	Protocol Protocol `mapstructure:"protocol"`
	// Timeout bounds each call to the sidecar.
	Timeout time.Duration `mapstructure:"timeout"`
	// OnError is pass_through (default), drop or error.
	OnError OnError `mapstructure:"on_error"`
}

// DefaultClientConfig is the default of every processor.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{Endpoint: DefaultEndpoint, Protocol: ProtocolConnect, Timeout: 5 * time.Second, OnError: OnErrorPassThrough}
}

// Validate returns one error per broken rule, naming the key and the fix.
func (c *ClientConfig) Validate() []error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint must be set, e.g. http://127.0.0.1:4319 or unix:///run/ebpf-otel/sidecar.sock"))
	} else if _, err := ParseEndpoint(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint: %w", err))
	}
	switch c.Protocol {
	case ProtocolConnect, ProtocolGRPC, ProtocolGRPCWeb:
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
	return errs
}
