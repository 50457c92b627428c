//go:build linux

// Command sidecarreplay measures the sidecar's CPU per batch on batches
// recorded from a real pipeline, old build against new side by side.
//
//	go run ./bench/sidecarreplay record -seconds 120 -out build/replay
//
// runs scripts/start.sh (npm start's pipeline) with the collector's
// processors pointed at a recording proxy in front of the sidecar, and keeps
// every Symbolize and Aggregate request body it forwards.
//
//	go run ./bench/sidecarreplay replay -in build/replay -a /tmp/base/processor-ts/dist/main.js -b processor-ts/dist/main.js
//
// starts both sidecars as start.sh does (its node flags and allocator
// settings) and replays each recorded interval to both, alternating which
// goes first: Symbolize, then what the collector does between the two
// processors (pdata unmarshals the answer and marshals it again), then
// Aggregate with those bytes. It compares the answers as pdata marshals
// them (Aggregate's with the random profile ids cleared), counts the
// Symbolize answers pdata marshals back to the same bytes, and reports each
// sidecar's CPU per round from its threads' schedstat (nanoseconds), split
// into the main thread and the others.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sidecarreplay record|replay [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "record":
		err = record(os.Args[2:])
	case "replay":
		err = replay(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: record or replay", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/sidecarreplay:", err)
		os.Exit(1)
	}
}

// newFlags is a flag set for one subcommand.
func newFlags(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ExitOnError) }
