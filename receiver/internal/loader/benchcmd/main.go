// Command benchcmd measures what feature probing adds to the receiver's
// start: loader.ProbeFeatures in a fresh process (nothing cached), side by
// side with the reference, bpftool's own probe of the kernel (`bpftool
// feature probe kernel`), over the same rounds. bpftool probes every program
// type, map type and helper, far more than our nine features: the ratio says
// what our targeted probing costs against the general tool, not that one
// probes faster per feature. Run as root; it lives under receiver/ because
// it imports the receiver's internal packages.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

func main() {
	rounds := flag.Int("rounds", 15, "alternating rounds of each side")
	child := flag.Bool("child", false, "probe once and print the nanoseconds it took (internal)")
	flag.Parse()
	if *child {
		t0 := time.Now()
		fs, err := loader.ProbeFeatures()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(time.Since(t0).Nanoseconds(), fs.String())
		return
	}
	if err := run(*rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench features:", err)
		os.Exit(1)
	}
}

func run(rounds int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bpftool, err := exec.LookPath("bpftool")
	if err != nil {
		return fmt.Errorf("the reference, bpftool, is missing (apt-get install bpftool): %w", err)
	}
	var ours, oursWall, ref []time.Duration
	var features string
	for i := 0; i < rounds; i++ {
		// Alternate the sides so drift in machine load hits both.
		t0 := time.Now()
		out, err := exec.Command(self, "-child").Output()
		if err != nil {
			return fmt.Errorf("probing: %w", err)
		}
		oursWall = append(oursWall, time.Since(t0))
		ns, rest, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			return fmt.Errorf("child output %q: %w", out, err)
		}
		ours = append(ours, time.Duration(n))
		features = rest
		t0 = time.Now()
		if err := exec.Command(bpftool, "feature", "probe", "kernel").Run(); err != nil {
			return fmt.Errorf("bpftool feature probe kernel: %w", err)
		}
		ref = append(ref, time.Since(t0))
	}
	fmt.Printf("kernel features: %s\n", features)
	fmt.Printf("loader.ProbeFeatures, in process        median %8.1f ms\n", ms(median(ours)))
	fmt.Printf("loader.ProbeFeatures, process wall time median %8.1f ms\n", ms(median(oursWall)))
	fmt.Printf("bpftool feature probe kernel, wall time median %8.1f ms\n", ms(median(ref)))
	fmt.Printf("ratio (ours / bpftool, wall time, %d rounds side by side): %.2f\n",
		rounds, float64(median(oursWall))/float64(median(ref)))
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
