// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package sidecar // import "github.com/ebpf-otel/ebpf-otel/processor/internal/sidecar"

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"go.opentelemetry.io/collector/pdata/pprofile"

	sidecarv1 "github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1/sidecarv1connect"
)

// Protocol selects the RPC protocol spoken to the sidecar.
type Protocol string

const (
	ProtocolConnect Protocol = "connect"
	ProtocolGRPC    Protocol = "grpc"
	ProtocolGRPCWeb Protocol = "grpc_web"
)

// MaxMessageBytes bounds the answers read from the sidecar.
const MaxMessageBytes = 256 << 20

// Client calls the sidecar's services: the one client of both processors.
// It is safe for concurrent use; Close releases its idle connections.
type Client struct {
	http   *http.Client
	sym    sidecarv1connect.SymbolizerServiceClient
	agg    sidecarv1connect.AggregatorServiceClient
	health *grpchealth.Client
}

// NewClient builds a client for endpoint (see ParseEndpoint) speaking
// protocol ("" is connect); it does no I/O.
func NewClient(endpoint string, protocol Protocol) (*Client, error) {
	ep, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	var opts []connect.ClientOption
	switch protocol {
	case ProtocolConnect, "":
	case ProtocolGRPC:
		opts = append(opts, connect.WithGRPC())
	case ProtocolGRPCWeb:
		opts = append(opts, connect.WithGRPCWeb())
	default:
		return nil, fmt.Errorf("unknown protocol %q", protocol)
	}
	opts = append(opts, connect.WithReadMaxBytes(MaxMessageBytes))
	hc := NewHTTPClient(ep)
	return &Client{
		http:   hc,
		sym:    sidecarv1connect.NewSymbolizerServiceClient(hc, ep.BaseURL, opts...),
		agg:    sidecarv1connect.NewAggregatorServiceClient(hc, ep.BaseURL, opts...),
		health: grpchealth.NewClient(hc, ep.BaseURL, opts...),
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Healthy reports whether the sidecar answers SERVING for the symbolizer service.
func (c *Client) Healthy(ctx context.Context) error {
	res, err := c.health.Check(ctx, &grpchealth.CheckRequest{Service: sidecarv1connect.SymbolizerServiceName})
	if err != nil {
		return err
	}
	if res.Status != grpchealth.StatusServing {
		return fmt.Errorf("sidecar is %v", res.Status)
	}
	return nil
}

// Symbolize sends pd to the sidecar and returns the symbolized batch.
//
// pprofile.ProtoMarshaler rewrites a writable batch while marshalling, so
// when keepOriginal is set (the caller may still pass pd on) a copy is
// marshalled instead.
func (c *Client) Symbolize(ctx context.Context, pd pprofile.Profiles, opts *sidecarv1.SymbolizeOptions, keepOriginal bool) (pprofile.Profiles, *sidecarv1.SymbolizeStats, error) {
	src := pd
	if keepOriginal && !pd.IsReadOnly() {
		src = pprofile.NewProfiles()
		pd.CopyTo(src)
	}
	payload, err := Marshal(src)
	if err != nil {
		return pd, nil, err
	}
	res, err := c.sym.Symbolize(ctx, connect.NewRequest(&sidecarv1.SymbolizeRequest{ProfilesData: payload, Options: opts}))
	if err != nil {
		return pd, nil, err
	}
	out, err := Unmarshal(res.Msg.GetProfilesData())
	if err != nil {
		return pd, nil, err
	}
	return out, res.Msg.GetStats(), nil
}

// Aggregate adds a batch (already marshalled) to a stream's window in the
// sidecar; the answer carries the batches of windows that closed, if any.
func (c *Client) Aggregate(ctx context.Context, req *sidecarv1.AggregateRequest) (*sidecarv1.AggregateResponse, error) {
	res, err := c.agg.Aggregate(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// Flush closes a stream's window in the sidecar and returns it.
func (c *Client) Flush(ctx context.Context, req *sidecarv1.FlushRequest) (*sidecarv1.FlushResponse, error) {
	res, err := c.agg.Flush(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// Marshal encodes a batch for the sidecar (OTLP ProfilesData bytes).
// pprofile.ProtoMarshaler rewrites a writable batch while marshalling.
func Marshal(pd pprofile.Profiles) ([]byte, error) {
	var m pprofile.ProtoMarshaler
	b, err := m.MarshalProfiles(pd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMarshal, err)
	}
	return b, nil
}

// Unmarshal decodes the sidecar's answer.
func Unmarshal(b []byte) (pprofile.Profiles, error) {
	var u pprofile.ProtoUnmarshaler
	pd, err := u.UnmarshalProfiles(b)
	if err != nil {
		return pd, fmt.Errorf("%w: %w", ErrBadAnswer, err)
	}
	return pd, nil
}

var (
	// ErrBadAnswer means the sidecar answered with bytes pdata cannot read.
	ErrBadAnswer = errors.New("sidecar answered with unreadable profiles")
	// ErrMarshal means the batch could not be encoded for the sidecar.
	ErrMarshal = errors.New("marshalling profiles")
)

// Reason names a failure for logs and metric attributes: the RPC code
// ("unavailable", "deadline_exceeded", ...), "bad_answer", "marshal", or
// "unknown" for anything else (never a guess).
func Reason(err error) string {
	var ce *connect.Error
	switch {
	case errors.Is(err, ErrBadAnswer):
		return "bad_answer"
	case errors.Is(err, ErrMarshal):
		return "marshal"
	case errors.As(err, &ce):
		return ce.Code().String()
	case errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded.String()
	case errors.Is(err, context.Canceled):
		return connect.CodeCanceled.String()
	}
	return "unknown"
}
