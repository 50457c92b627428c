//go:build linux && amd64

package memory

import (
	"math"
	"testing"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/loader"
)

const (
	kib = 1024
	mib = 1024 * kib
)

// byFunc sums the records of pid by the function holding the leaf address.
func byFunc(t *testing.T, snap Snapshot, pid uint32) map[string]Record {
	t.Helper()
	sym := newSymbolizer(t, pid)
	out := map[string]Record{}
	for _, r := range snap.Records {
		if r.PID != pid {
			continue
		}
		name := "?"
		if len(r.User) > 0 {
			name = sym.name(r.User[0])
		}
		s := out[name]
		s.AllocObjects += r.AllocObjects
		s.AllocSpace += r.AllocSpace
		s.InuseObjects += r.InuseObjects
		s.InuseSpace += r.InuseSpace
		s.Samples += r.Samples
		out[name] = s
	}
	return out
}

// runAlloc profiles the alloc program at mean and returns its records by
// function, the snapshot and the program's pid.
func runAlloc(t *testing.T, mean uint64, noSession bool) (map[string]Record, Snapshot) {
	t.Helper()
	requirePrivileges(t)
	bin := build(t, t.TempDir(), "alloc", "testdata/alloc.c", "-ldl")
	c := startChild(t, bin, "alloc")
	// The test wants every allocation under its own stack, so a collision
	// in the kernel's stack map (two of the program's few stacks hashing to
	// one bucket; addresses move with ASLR, so it happens now and then at
	// the default size) would fail it: a large map makes that unlikely.
	p, err := Start(Config{SampleMean: mean, PIDs: []uint32{c.pid()}, NoSession: noSession, StackEntries: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Links() == 0 {
		t.Fatalf("no links attached: %+v", p.targets)
	}
	// Uprobe sessions where the kernel has them, return probes otherwise.
	fs, err := loader.ProbeFeatures()
	if err != nil {
		t.Fatal(err)
	}
	if want := !noSession && fs.Has(loader.FeatureUprobeSession); p.session != want {
		t.Errorf("session %v, want %v with features %s", p.session, want, fs)
	}
	c.send()
	c.expect("done")
	snap, err := p.Drain()
	if err != nil {
		t.Fatal(err)
	}
	funcs := byFunc(t, snap, c.pid())
	t.Logf("mean %d: stats %+v", mean, snap.Stats)
	for name, r := range funcs {
		t.Logf("  %-10s alloc %d objs %d B, inuse %d objs %d B (%d samples)",
			name, r.AllocObjects, r.AllocSpace, r.InuseObjects, r.InuseSpace, r.Samples)
	}
	c.finish()
	return funcs, snap
}

func TestExactEveryAllocation(t *testing.T) {
	t.Run("session", func(t *testing.T) { testExact(t, false) })
	t.Run("return probes", func(t *testing.T) { testExact(t, true) })
}

func testExact(t *testing.T, noSession bool) {
	want := map[string]Record{
		"alloc_a": {AllocObjects: 65536, AllocSpace: 256 * mib, InuseObjects: 16384, InuseSpace: 64 * mib},
		"alloc_b": {AllocObjects: 65536, AllocSpace: 64 * mib},
		"alloc_c": {AllocObjects: 3000, AllocSpace: 1000 * (1024 + 2048 + 512), InuseObjects: 1000, InuseSpace: 1000 * 2048},
	}
	// A collision in the kernel's stack map (bpf_get_stackid returns
	// -EEXIST when another stack holds the bucket; buckets follow the
	// addresses, which move with ASLR) is counted and its samples kept under
	// an unknown stack: the totals stay exact but not the split by function.
	// Seen now and then even with 65,536 buckets, so a run with collisions
	// must still count every allocation, and a fresh process (new layout)
	// is tried for the split.
	const attempts = 3
	for i := 1; ; i++ {
		funcs, snap := runAlloc(t, 1, noSession)
		st := snap.Stats
		if st.AllocsFull+st.LiveFull+st.NoState+st.StackErrors != 0 {
			t.Fatalf("lost samples: %+v", st)
		}
		if st.StackCollisions != 0 && i < attempts {
			var got, all Record
			for _, r := range funcs {
				got.AllocObjects += r.AllocObjects
				got.AllocSpace += r.AllocSpace
			}
			for _, w := range want {
				all.AllocObjects += w.AllocObjects
				all.AllocSpace += w.AllocSpace
			}
			if got.AllocObjects != all.AllocObjects || got.AllocSpace != all.AllocSpace {
				t.Fatalf("with %d stack collisions the totals must stay exact: got %d objs %d B, want %d objs %d B",
					st.StackCollisions, got.AllocObjects, got.AllocSpace, all.AllocObjects, all.AllocSpace)
			}
			t.Logf("attempt %d: %d stack collisions (totals exact); again in a new process", i, st.StackCollisions)
			continue
		}
		for name, w := range want {
			g := funcs[name]
			if g.AllocObjects != w.AllocObjects || g.AllocSpace != w.AllocSpace ||
				g.InuseObjects != w.InuseObjects || g.InuseSpace != w.InuseSpace {
				t.Errorf("%s: got %+v, want %+v", name, g, w)
			}
		}
		if st.StackCollisions != 0 {
			t.Errorf("stack collisions in %d runs in a row: %+v", attempts, st)
		}
		return
	}
}

func TestSampledWithinError(t *testing.T) {
	t.Run("session", func(t *testing.T) { testSampled(t, false) })
	t.Run("return probes", func(t *testing.T) { testSampled(t, true) })
}

func testSampled(t *testing.T, noSession bool) {
	funcs, snap := runAlloc(t, 0, noSession) // default: 512 KiB
	if snap.SampleMean != DefaultSampleMean {
		t.Fatalf("sample mean %d", snap.SampleMean)
	}
	check := func(name, what string, got int64, n, size uint64) {
		t.Helper()
		want := float64(n * size)
		sigma := RelStdErr(n, size, DefaultSampleMean) * want
		if d := math.Abs(float64(got) - want); d > 4*sigma {
			t.Errorf("%s %s: got %d, want %.0f ± 4σ (σ %.0f, off by %.1fσ)", name, what, got, want, sigma, d/sigma)
		} else {
			t.Logf("%s %s: got %d, want %.0f, off by %.2fσ (σ %.1f%%)", name, what, got, want, d/sigma, 100*sigma/want)
		}
	}
	check("alloc_a", "alloc_space", funcs["alloc_a"].AllocSpace, 65536, 4*kib)
	check("alloc_a", "inuse_space", funcs["alloc_a"].InuseSpace, 16384, 4*kib)
	check("alloc_b", "alloc_space", funcs["alloc_b"].AllocSpace, 65536, kib)
	if funcs["alloc_b"].InuseSpace != 0 {
		t.Errorf("alloc_b frees everything, in use %d", funcs["alloc_b"].InuseSpace)
	}
	// Objects follow from bytes for a single block size.
	a := funcs["alloc_a"]
	if a.AllocObjects == 0 || math.Abs(float64(a.AllocSpace)/float64(a.AllocObjects)-4*kib) > 1 {
		t.Errorf("alloc_a: %d bytes in %d objects, want 4 KiB each", a.AllocSpace, a.AllocObjects)
	}
	if snap.Stats.Sampled == 0 || snap.Stats.Sampled > snap.Stats.Calls/20 {
		t.Errorf("sampled %d of %d calls", snap.Stats.Sampled, snap.Stats.Calls)
	}
}
