// Command prebuild builds the unwinder's test programs into a directory for
// the kernel matrix's guests (scripts/kernel-matrix.sh), which have no
// compiler; unwindtest.Build copies them there.
//
//	go run ./receiver/internal/unwind/unwindtest/prebuild DIR
package main

import (
	"fmt"
	"os"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind/unwindtest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: prebuild DIR")
		os.Exit(2)
	}
	if err := unwindtest.Prebuild(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "prebuild: %v\n", err)
		os.Exit(1)
	}
}
