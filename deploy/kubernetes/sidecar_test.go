package kubernetes

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

// TestSidecarMemoryBudget: the sidecar's own bounds (parsed-file cache, V8
// old generation) fit its memory limit with room for Node itself, V8's
// young generation (fixed) and one object larger than the cache (docs/deployment.md,
// "Sidecar memory").
func TestSidecarMemoryBudget(t *testing.T) {
	b := loadBase(t)
	side := container(t, &b.DaemonSet.Spec.Template.Spec, "sidecar")
	argValue := func(list []string, flag string) string {
		for i, a := range list {
			if v, ok := strings.CutPrefix(a, flag+"="); ok {
				return v
			}
			if a == flag && i+1 < len(list) {
				return list[i+1]
			}
		}
		return ""
	}
	for _, e := range side.Env {
		if e.Name == "NODE_OPTIONS" {
			t.Error("NODE_OPTIONS is ignored by a node with file capabilities: pass node flags in command")
		}
	}
	cache, err := strconv.ParseInt(argValue(side.Args, "--cache-bytes"), 10, 64)
	if err != nil {
		t.Fatalf("sidecar args %v: --cache-bytes: %v", side.Args, err)
	}
	oldMiB, err := strconv.ParseInt(argValue(side.Command, "--max-old-space-size"), 10, 64)
	if err != nil {
		t.Fatalf("sidecar command %v: --max-old-space-size: %v", side.Command, err)
	}
	if len(side.Command) < 3 || side.Command[0] != "/usr/local/bin/node" || side.Command[len(side.Command)-1] != "/app/bin/ebpf-otel-sidecar.js" {
		t.Errorf("sidecar command %v: want node, its flags, then the sidecar's script", side.Command)
	}
	semiMiB, err := strconv.ParseInt(argValue(side.Command, "--max-semi-space-size"), 10, 64)
	if err != nil {
		t.Fatalf("sidecar command %v: --max-semi-space-size: %v (node 24 grows the young generation to 3 x 64 MiB without it)", side.Command, err)
	}
	if argValue(side.Command, "--min-semi-space-size") != strconv.FormatInt(semiMiB, 10) {
		t.Errorf("sidecar command %v: the young generation's size is fixed (--min-semi-space-size = --max-semi-space-size)", side.Command)
	}
	if !slices.Contains(side.Command, "--no-allocation-site-pretenuring") {
		t.Errorf("sidecar command %v: without --no-allocation-site-pretenuring V8 moves requests into the old generation (docs/performance.md)", side.Command)
	}
	if !slices.Contains(side.Command, "--max-opt=2") {
		t.Errorf("sidecar command %v: without --max-opt=2 TurboFan's compilations cost the sidecar about a fifth more CPU (docs/performance.md)", side.Command)
	}
	if argValue(side.Args, "--flamegraph-bytes") == "" {
		t.Errorf("sidecar args %v: --flamegraph-bytes bounds the page's store (part of the old generation)", side.Args)
	}
	// The young generation is three semi-spaces; Node itself is its
	// binary's resident pages and runtime (docs/deployment.md).
	youngMiB, nodeMiB := 3*semiMiB, int64(60)
	need := cache + (oldMiB+youngMiB+nodeMiB)<<20
	limit := side.Resources.Limits.Memory()
	if limit.Cmp(*resource.NewQuantity(need, resource.BinarySI)) <= 0 {
		t.Errorf("memory limit %s does not hold cache %d MiB + heap %d MiB + young %d MiB + node %d MiB",
			limit, cache>>20, oldMiB, youngMiB, nodeMiB)
	}
	if limit.Value() > 2*need {
		t.Errorf("memory limit %s is more than twice the bounded use (%d MiB): lower it or raise the bounds", limit, need>>20)
	}
	// npm start's figures are the same (scripts/start.sh).
	start, err := os.ReadFile("../../scripts/start.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"EBPF_OTEL_SIDECAR_CACHE_BYTES:-" + strconv.FormatInt(cache, 10),
		"EBPF_OTEL_SIDECAR_OLD_SPACE_MIB:-" + strconv.FormatInt(oldMiB, 10),
		"EBPF_OTEL_SIDECAR_SEMI_SPACE_MIB:-" + strconv.FormatInt(semiMiB, 10),
		"EBPF_OTEL_SIDECAR_FLAMEGRAPH_BYTES:-" + argValue(side.Args, "--flamegraph-bytes"),
		"--no-allocation-site-pretenuring",
		"--max-opt=2",
	} {
		if !bytes.Contains(start, []byte(want)) {
			t.Errorf("scripts/start.sh lacks %q: the DaemonSet and npm start share their memory figures", want)
		}
	}
}
