//go:build linux

// Command symcli measures cold symbolization as a user runs it: one whole
// process per run, `ebpf-otel-sidecar symbolize --obj FILE` (the package's
// command, processor-ts/bin/ebpf-otel-sidecar: the launcher that starts it
// from its startup snapshot) against
// `llvm-symbolizer --inlining --demangle --obj=FILE`, the same random .text
// addresses on stdin (seeded, so every run and every tool gets the same
// set), start-up, file reading and parsing included. It reports each
// tool's CPU time (user + system, from the kernel's rusage of the child),
// wall time and peak RSS, medians over alternating rounds, the ratio
// llvm CPU / ours CPU (≥ 1 means ours is at least as fast), and how many
// answers differ from llvm-symbolizer's. Other work on the machine slows
// both; the load average is printed with the figures. With -baseline DIR
// (another build's processor-ts directory, e.g. a worktree of an older
// commit after `npm run build`), that build's command runs in the same
// alternation, so a change is measured before and after side by side.
package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

var (
	count      = flag.Int("addrs", 20000, "random .text addresses per binary")
	rounds     = flag.Int("rounds", 3, "alternating rounds per tool and binary (medians reported)")
	seed       = flag.Int64("seed", 14, "seed of the address generator")
	bins       = flag.String("bins", "", "comma-separated binaries (default: libc, read with its debug file found by build ID, and Debian's /usr/bin/node, else the node on PATH)")
	base       = flag.String("baseline", "", "processor-ts directory of another build, run alternately with ours (its bin/ebpf-otel-sidecar launcher, or bin/ebpf-otel-sidecar.js in builds before the launcher)")
	printAddrs = flag.String("print-addrs", "", "only write the address set of this binary (as -addrs and -seed make it) to stdout: the input bench/symcli/phases.mjs reads")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/symcli:", err)
		os.Exit(1)
	}
}

// sample is one process run.
type sample struct {
	cpu, wall time.Duration
	rssKiB    int64
	out       []byte
}

func run() error {
	if *printAddrs != "" {
		input, err := randomTextAddresses(*printAddrs, *count, *seed)
		if err != nil {
			return fmt.Errorf("%s: %w", *printAddrs, err)
		}
		_, err = os.Stdout.Write(input)
		return err
	}
	root, err := filepath.Abs(".")
	if err != nil {
		return err
	}
	sidecar, err := command(filepath.Join(root, "processor-ts"))
	if err != nil {
		return fmt.Errorf("run from the repository root after scripts/setup.sh: %w", err)
	}
	llvm, err := exec.LookPath("llvm-symbolizer")
	if err != nil {
		return fmt.Errorf("llvm-symbolizer (Debian package llvm) is the reference: %w", err)
	}
	var baseline []string
	if *base != "" {
		if baseline, err = command(*base); err != nil {
			return fmt.Errorf("-baseline: %w", err)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("cold symbolization, whole process: %d random .text addresses, %d alternating rounds, medians; load average %s\n",
		*count, *rounds, strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("%-46s | %9s | %9s | %9s | %9s | %8s | %8s | %10s | %s\n",
		"binary", "ours CPU", "llvm CPU", "ours wall", "llvm wall", "ours RSS", "llvm RSS", "llvm/ours", "answers differing")
	list := *bins
	if list == "" {
		list = "/lib/x86_64-linux-gnu/libc.so.6," + nodeBinary()
	}
	for _, bin := range strings.Split(list, ",") {
		if _, err := os.Stat(bin); err != nil {
			fmt.Printf("%-46s | missing\n", bin)
			continue
		}
		input, err := randomTextAddresses(bin, *count, *seed)
		if err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		var ours, ref, before []sample
		for r := 0; r < *rounds; r++ {
			o, err := measure(input, sidecar[0], append(sidecar[1:], "symbolize", "--obj", bin)...)
			if err != nil {
				return fmt.Errorf("ours on %s: %w", bin, err)
			}
			l, err := measure(input, llvm, "--inlining", "--demangle", "--obj="+bin)
			if err != nil {
				return fmt.Errorf("llvm-symbolizer on %s: %w", bin, err)
			}
			ours, ref = append(ours, o), append(ref, l)
			if baseline != nil {
				b, err := measure(input, baseline[0], append(baseline[1:], "symbolize", "--obj", bin)...)
				if err != nil {
					return fmt.Errorf("baseline on %s: %w", bin, err)
				}
				before = append(before, b)
			}
		}
		oc, lc := median(ours, func(s sample) float64 { return s.cpu.Seconds() }), median(ref, func(s sample) float64 { return s.cpu.Seconds() })
		fmt.Printf("%-46s | %8.2fs | %8.2fs | %8.2fs | %8.2fs | %5.0f MiB | %4.0f MiB | %9.2fx | %d of %d\n",
			label(bin), oc, lc,
			median(ours, func(s sample) float64 { return s.wall.Seconds() }), median(ref, func(s sample) float64 { return s.wall.Seconds() }),
			median(ours, func(s sample) float64 { return float64(s.rssKiB) / 1024 }), median(ref, func(s sample) float64 { return float64(s.rssKiB) / 1024 }),
			lc/oc, differing(ours[0].out, ref[0].out), *count)
		if baseline != nil {
			bc := median(before, func(s sample) float64 { return s.cpu.Seconds() })
			fmt.Printf("%-46s | %8.2fs | %9s | %8.2fs | %9s | %5.0f MiB | %8s | %9.2fx | %d of %d differ from ours\n",
				"  baseline "+*base, bc, "", median(before, func(s sample) float64 { return s.wall.Seconds() }), "",
				median(before, func(s sample) float64 { return float64(s.rssKiB) / 1024 }), "", lc/bc,
				differing(ours[0].out, before[0].out), *count)
		}
	}
	return nil
}

// command is how a processor-ts directory runs its sidecar command: the
// launcher bin/ebpf-otel-sidecar, or node with bin/ebpf-otel-sidecar.js in
// builds from before the launcher.
func command(dir string) ([]string, error) {
	launcher := filepath.Join(dir, "bin", "ebpf-otel-sidecar")
	if _, err := os.Stat(launcher); err == nil {
		return []string{launcher}, nil
	}
	script := launcher + ".js"
	if _, err := os.Stat(script); err != nil {
		return nil, err
	}
	return []string{"node", script}, nil
}

// nodeBinary is Debian's node (98 MiB, 10^5 symbols) when installed, else
// the node on PATH (setup's Node.js 24), resolved to its file.
func nodeBinary() string {
	if _, err := os.Stat("/usr/bin/node"); err == nil {
		return "/usr/bin/node"
	}
	p, err := exec.LookPath("node")
	if err != nil {
		return "/usr/bin/node"
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

func label(bin string) string {
	if strings.Contains(filepath.Base(bin), "libc.so") {
		return bin + " (+ debug file)"
	}
	return bin
}

// randomTextAddresses returns n uniformly random link-time addresses inside
// the object's .text, one hex address a line.
func randomTextAddresses(bin string, n int, seed int64) ([]byte, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	text := f.Section(".text")
	if text == nil || text.Size == 0 {
		return nil, errors.New("no .text section")
	}
	rng := rand.New(rand.NewSource(seed))
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "0x%x\n", text.Addr+uint64(rng.Int63n(int64(text.Size))))
	}
	return b.Bytes(), nil
}

// measure runs one process with input on stdin and takes its CPU time and
// peak RSS from the kernel's rusage of the child.
func measure(input []byte, name string, args ...string) (sample, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("%w: %s", err, errb.String())
	}
	wall := time.Since(t0)
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, errors.New("no rusage")
	}
	return sample{cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), wall: wall, rssKiB: ru.Maxrss, out: out.Bytes()}, nil
}

func median(s []sample, f func(sample) float64) float64 {
	v := make([]float64, len(s))
	for i := range s {
		v[i] = f(s[i])
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// differing counts answers (blank-line separated blocks) that are not identical.
func differing(a, b []byte) int {
	x, y := bytes.Split(a, []byte("\n\n")), bytes.Split(b, []byte("\n\n"))
	n := 0
	for i := 0; i < len(x) || i < len(y); i++ {
		if i >= len(x) || i >= len(y) || !bytes.Equal(x[i], y[i]) {
			n++
		}
	}
	return n
}
