package kubernetes

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// ociSeccomp is the OCI runtime spec's linux.seccomp object: the only form
// every runtime reads a Localhost profile in (containerd does not know the
// includes/excludes extension of Docker's and containers-common's files).
type ociSeccomp struct {
	DefaultAction   string   `json:"defaultAction"`
	DefaultErrnoRet *uint    `json:"defaultErrnoRet,omitempty"`
	Architectures   []string `json:"architectures"`
	Syscalls        []struct {
		Names    []string `json:"names"`
		Action   string   `json:"action"`
		ErrnoRet *uint    `json:"errnoRet,omitempty"`
		Args     []struct {
			Index    uint   `json:"index"`
			Value    uint64 `json:"value"`
			ValueTwo uint64 `json:"valueTwo"`
			Op       string `json:"op"`
		} `json:"args,omitempty"`
	} `json:"syscalls"`
}

// TestCollectorSeccompProfile: the collector runs under the shipped Localhost
// profile, which is plain OCI JSON, denies by default and allows what the
// receiver needs beyond the runtime's default. (test/pod runs the collector
// under it and checks its programs load.)
func TestCollectorSeccompProfile(t *testing.T) {
	b := loadBase(t)
	col := container(t, &b.DaemonSet.Spec.Template.Spec, "collector")
	p := col.SecurityContext.SeccompProfile
	if p == nil || p.Type != corev1.SeccompProfileTypeLocalhost || p.LocalhostProfile == nil {
		t.Fatalf("collector seccompProfile %v, want Localhost", p)
	}
	rel, ok := strings.CutPrefix(*p.LocalhostProfile, "ebpf-otel/")
	if !ok {
		t.Fatalf("localhostProfile %q is not under ebpf-otel/ (docs/deployment.md installs the profiles there)", *p.LocalhostProfile)
	}
	raw, err := os.ReadFile(filepath.Join("seccomp", rel))
	if err != nil {
		t.Fatal(err)
	}
	var prof ociSeccomp
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&prof); err != nil {
		t.Fatalf("%s is not a plain OCI seccomp object: %v", rel, err)
	}
	if prof.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Errorf("defaultAction %s, want SCMP_ACT_ERRNO (an allowlist)", prof.DefaultAction)
	}
	for _, arch := range []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"} {
		if !slices.Contains(prof.Architectures, arch) {
			t.Errorf("architectures %v lack %s", prof.Architectures, arch)
		}
	}
	actions := map[string][]string{}
	for _, s := range prof.Syscalls {
		for _, n := range s.Names {
			actions[n] = append(actions[n], s.Action)
		}
	}
	// What the receiver calls beyond the default, allowed outright; what the
	// default denies to a container without SYS_ADMIN stays denied.
	for _, n := range []string{"bpf", "perf_event_open", "read", "mmap", "openat", "clone", "futex", "epoll_pwait", "ioctl"} {
		if !slices.Equal(actions[n], []string{"SCMP_ACT_ALLOW"}) {
			t.Errorf("%s: actions %v, want allowed by one rule", n, actions[n])
		}
	}
	for _, n := range []string{"init_module", "setns", "chroot", "kexec_load", "iopl", "settimeofday"} {
		if slices.Contains(actions[n], "SCMP_ACT_ALLOW") {
			t.Errorf("%s is allowed: the profile must stay within the runtime's default for these capabilities", n)
		}
	}
	// One rule per name unless the rules compare arguments: two
	// unconditional rules of different actions are an error for some
	// runtimes and ambiguous for all.
	plain := map[string]int{}
	for _, s := range prof.Syscalls {
		if len(s.Args) == 0 {
			for _, n := range s.Names {
				if plain[n]++; plain[n] == 2 {
					t.Errorf("%s: more than one rule without arguments", n)
				}
			}
		}
	}
}
