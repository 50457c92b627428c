//go:build !linux

package ebpfreceiver

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/receiver"
)

var errShutdown = errors.New("ebpf receiver was shut down")

func newReceiver(cfg *Config, set receiver.Settings) (*ebpfReceiver, error) {
	return nil, errors.New("the ebpf receiver is only supported on Linux")
}

func startEngine(context.Context, *ebpfReceiver) (engine, error) {
	return nil, errors.New("the ebpf receiver is only supported on Linux")
}
