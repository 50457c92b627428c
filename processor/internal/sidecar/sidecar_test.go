// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package sidecar

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pprofile"

	sidecarv1 "github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/gen/ebpfotel/sidecar/v1/sidecarv1connect"
	"github.com/ebpf-otel/ebpf-otel/processor/internal/sidecartest"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Endpoint
		err  string
	}{
		{in: "unix:///run/x.sock", want: Endpoint{Network: "unix", Address: "/run/x.sock", BaseURL: "http://sidecar"}},
		{in: "http://127.0.0.1:4319", want: Endpoint{Network: "tcp", Address: "127.0.0.1:4319", BaseURL: "http://127.0.0.1:4319"}},
		{in: "http://[::1]:4319/", want: Endpoint{Network: "tcp", Address: "[::1]:4319", BaseURL: "http://[::1]:4319"}},
		{in: "unix://run/x.sock", err: `invalid endpoint: "unix://run/x.sock": a unix endpoint needs an absolute path, as in unix:///run/ebpf-otel/sidecar.sock`},
		{in: "https://h:1", err: `invalid endpoint: "https://h:1": use http://HOST:PORT or unix:///PATH`},
		{in: "http://h:1/prefix", err: `invalid endpoint: "http://h:1/prefix": use http://HOST:PORT or unix:///PATH`},
		{in: "127.0.0.1:4319", err: `invalid endpoint: "127.0.0.1:4319": use http://HOST:PORT or unix:///PATH`},
		{in: "http://localhost", err: `invalid endpoint: "http://localhost": the port is missing, as in http://127.0.0.1:4319`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseEndpoint(tc.in)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				require.ErrorIs(t, err, ErrBadEndpoint)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNewClientRejects(t *testing.T) {
	_, err := NewClient("nope", ProtocolConnect)
	require.ErrorIs(t, err, ErrBadEndpoint)
	_, err = NewClient("http://127.0.0.1:1", "carrier-pigeon")
	require.EqualError(t, err, `unknown protocol "carrier-pigeon"`)
}

func TestReason(t *testing.T) {
	assert.Equal(t, "unavailable", Reason(connect.NewError(connect.CodeUnavailable, errors.New("x"))))
	assert.Equal(t, "deadline_exceeded", Reason(context.DeadlineExceeded))
	assert.Equal(t, "canceled", Reason(context.Canceled))
	assert.Equal(t, "bad_answer", Reason(ErrBadAnswer))
	assert.Equal(t, "bad_answer", Reason(fmt.Errorf("flush: %w", ErrBadAnswer)))
	assert.Equal(t, "marshal", Reason(fmt.Errorf("%w: %w", ErrMarshal, errors.New("x"))))
	assert.Equal(t, "unknown", Reason(errors.New("other")), "an unrecognised error is not labelled marshal")
}

func TestOutage(t *testing.T) {
	now := time.Unix(100, 0)
	o := NewOutage(func() time.Time { return now })
	ended, _, _ := o.Succeeded()
	assert.False(t, ended)
	assert.False(t, o.Down())
	assert.True(t, o.Failed())
	assert.False(t, o.Failed())
	assert.True(t, o.Down())
	now = now.Add(3 * time.Second)
	ended, lasted, failures := o.Succeeded()
	assert.True(t, ended)
	assert.Equal(t, 3*time.Second, lasted)
	assert.Equal(t, 2, failures)
	assert.True(t, o.Failed(), "a new outage is reported again")
	assert.NotNil(t, NewOutage(nil).now)
}

// echo answers Symbolize with the request's batch plus one function, so a
// test can tell a symbolized batch from the original.
type echo struct{}

func (echo) Symbolize(_ context.Context, req *connect.Request[sidecarv1.SymbolizeRequest]) (*connect.Response[sidecarv1.SymbolizeResponse], error) {
	var u pprofile.ProtoUnmarshaler
	pd, err := u.UnmarshalProfiles(req.Msg.GetProfilesData())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if req.Msg.GetOptions().GetDemangle() {
		pd.Dictionary().StringTable().Append("demangled")
	}
	var m pprofile.ProtoMarshaler
	out, err := m.MarshalProfiles(pd)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sidecarv1.SymbolizeResponse{ProfilesData: out, Stats: &sidecarv1.SymbolizeStats{LocationsTotal: 1}}), nil
}

// serve runs a fake sidecar answering Symbolize with h.
func serve(t *testing.T, network string, h sidecarv1connect.SymbolizerServiceHandler) *sidecartest.FakeServer {
	return sidecartest.ServeFake(t, network, sidecartest.NewRoute(sidecarv1connect.NewSymbolizerServiceHandler(h)))
}

func batch() pprofile.Profiles {
	pd := pprofile.NewProfiles()
	pd.Dictionary().StringTable().Append("", "x")
	rp := pd.ResourceProfiles().AppendEmpty()
	rp.Resource().Attributes().PutStr("k", "v")
	rp.ScopeProfiles().AppendEmpty().Profiles().AppendEmpty().Samples().AppendEmpty().Values().Append(1)
	return pd
}

func TestClientOverUnixAndTCP(t *testing.T) {
	unix := serve(t, "unix", echo{})
	tcp := serve(t, "tcp", echo{})

	for _, tc := range []struct {
		endpoint string
		protocol Protocol
	}{
		{unix.Endpoint(), ProtocolConnect},
		{unix.Endpoint(), ProtocolGRPC},
		{tcp.Endpoint(), ProtocolGRPCWeb},
		{tcp.Endpoint(), ""},
	} {
		t.Run(tc.endpoint+"/"+string(tc.protocol), func(t *testing.T) {
			c, err := NewClient(tc.endpoint, tc.protocol)
			require.NoError(t, err)
			defer c.Close()
			ctx := context.Background()
			require.NoError(t, c.Healthy(ctx))
			in := batch()
			before := in.Dictionary().StringTable().Len()
			out, stats, err := c.Symbolize(ctx, in, &sidecarv1.SymbolizeOptions{Demangle: ptr(true)}, true)
			require.NoError(t, err)
			assert.Equal(t, uint64(1), stats.GetLocationsTotal())
			assert.Equal(t, "demangled", out.Dictionary().StringTable().At(out.Dictionary().StringTable().Len()-1))
			assert.Equal(t, before, in.Dictionary().StringTable().Len(), "the original is untouched")
			assert.Equal(t, 1, out.SampleCount())
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestClientReadOnlyBatch(t *testing.T) {
	c, err := NewClient(serve(t, "tcp", echo{}).Endpoint(), ProtocolConnect)
	require.NoError(t, err)
	defer c.Close()
	in := batch()
	in.MarkReadOnly()
	out, _, err := c.Symbolize(context.Background(), in, nil, true)
	require.NoError(t, err)
	assert.Equal(t, 1, out.SampleCount())
	assert.True(t, in.IsReadOnly())
}

func TestClientErrors(t *testing.T) {
	// Nothing listens on the socket: unavailable.
	c, err := NewClient("unix://"+filepath.Join(t.TempDir(), "none.sock"), ProtocolConnect)
	require.NoError(t, err)
	defer c.Close()
	in := batch()
	out, _, err := c.Symbolize(context.Background(), in, nil, false)
	require.Error(t, err)
	assert.Equal(t, "unavailable", Reason(err))
	assert.Equal(t, in, out)
	require.Error(t, c.Healthy(context.Background()))

	// A server answering garbage bytes.
	g, err := NewClient(serve(t, "tcp", garbage{}).Endpoint(), ProtocolGRPC)
	require.NoError(t, err)
	defer g.Close()
	_, _, err = g.Symbolize(context.Background(), batch(), nil, false)
	require.ErrorIs(t, err, ErrBadAnswer)
}

type garbage struct{}

func (garbage) Symbolize(context.Context, *connect.Request[sidecarv1.SymbolizeRequest]) (*connect.Response[sidecarv1.SymbolizeResponse], error) {
	return connect.NewResponse(&sidecarv1.SymbolizeResponse{ProfilesData: []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}}), nil
}

func TestHealthyNotServing(t *testing.T) {
	srv := serve(t, "tcp", echo{})
	srv.Health.SetStatus(sidecarv1connect.SymbolizerServiceName, grpchealth.StatusNotServing)
	c, err := NewClient(srv.Endpoint(), ProtocolConnect)
	require.NoError(t, err)
	defer c.Close()
	require.ErrorContains(t, c.Healthy(context.Background()), "sidecar is")
}
