package kubernetes

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func container(t *testing.T, pod *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range pod.Containers {
		if pod.Containers[i].Name == name {
			return &pod.Containers[i]
		}
	}
	t.Fatalf("no container %q", name)
	return nil
}

func mountOf(c *corev1.Container, volume string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == volume {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func TestBaseDecodesStrictly(t *testing.T) {
	b := loadBase(t)
	ds := b.DaemonSet
	pod := &ds.Spec.Template.Spec
	if ds.Spec.Selector == nil || !mapSubset(ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels) {
		t.Errorf("selector %v does not match the template labels %v", ds.Spec.Selector, ds.Spec.Template.Labels)
	}
	if !pod.HostPID {
		t.Error("hostPID must be true: the receiver and the sidecar read /proc/PID of every process")
	}
	if pod.ServiceAccountName != b.Account.Name {
		t.Errorf("serviceAccountName %q, ServiceAccount %q", pod.ServiceAccountName, b.Account.Name)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	if v := volumes["run"]; v.EmptyDir == nil {
		t.Error(`volume "run" (the sidecar socket) must be an emptyDir`)
	}
	if v := volumes["config"]; v.ConfigMap == nil || v.ConfigMap.Name != b.Config.Name {
		t.Errorf("volume config does not name ConfigMap %q", b.Config.Name)
	}

	col := container(t, pod, "collector")
	side := container(t, pod, "sidecar")
	wantCaps := map[string][]corev1.Capability{
		"collector": {"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "SYSLOG"},
		"sidecar":   {"SYS_PTRACE", "DAC_READ_SEARCH", "SYSLOG"},
	}
	for _, c := range []*corev1.Container{col, side} {
		sc := c.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			t.Fatalf("%s: no securityContext.capabilities", c.Name)
		}
		if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || !slices.Equal(sc.Capabilities.Add, wantCaps[c.Name]) {
			t.Errorf("%s: capabilities drop %v add %v, want drop [ALL] add %v", c.Name, sc.Capabilities.Drop, sc.Capabilities.Add, wantCaps[c.Name])
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", c.Name)
		}
		if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			t.Errorf("%s: must run as a non-root user", c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: cpu and memory requests and a memory limit are required", c.Name)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("%s: liveness and readiness probes are required", c.Name)
		}
		if m := mountOf(c, "run"); m == nil || m.MountPath != "/run/ebpf-otel" {
			t.Errorf("%s: the socket volume must be mounted at /run/ebpf-otel", c.Name)
		}
	}
	// The socket is 0600: both containers must be the same user.
	if *col.SecurityContext.RunAsUser != *side.SecurityContext.RunAsUser {
		t.Errorf("collector user %d, sidecar user %d: the 0600 socket needs one owner", *col.SecurityContext.RunAsUser, *side.SecurityContext.RunAsUser)
	}
	if got := strings.Join(side.Args, " "); !strings.Contains(got, "--unix /run/ebpf-otel/sidecar.sock") {
		t.Errorf("sidecar args %q do not serve the shared socket", got)
	}
	if p := col.LivenessProbe.HTTPGet; p == nil || p.Port.String() != "health" {
		t.Errorf("collector liveness: want httpGet on the health_check port")
	}
	if p := side.LivenessProbe.Exec; p == nil || !slices.Contains(p.Command, "health") {
		t.Errorf("sidecar liveness: want the health command")
	}
	for _, v := range []string{"sys-kernel", "cgroup"} {
		if m := mountOf(col, v); m == nil || !m.ReadOnly || volumes[v].HostPath == nil {
			t.Errorf("collector: %s must be a read-only hostPath mount", v)
		}
	}
	if m := mountOf(col, "config"); m == nil || !strings.Contains(strings.Join(col.Args, " "), m.MountPath+"/collector.yaml") {
		t.Errorf("collector --config does not point into the config volume")
	}
	if _, ok := b.Config.Data["collector.yaml"]; !ok {
		t.Errorf("ConfigMap %s has no collector.yaml", b.Config.Name)
	}
}

// TestCollectorConfigValidates runs the built collector's own validation on
// the ConfigMap's config.
func TestCollectorConfigValidates(t *testing.T) {
	b := loadBase(t)
	bin, err := filepath.Abs("../../build/otelcol-ebpf/otelcol-ebpf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v: run scripts/setup.sh first", err)
	}
	cfg := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(cfg, []byte(b.Config.Data["collector.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "validate", "--config", cfg, "--feature-gates=service.profilesSupport")
	cmd.Env = append(os.Environ(), "OTLP_ENDPOINT=gateway:4317")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("otelcol-ebpf validate: %v\n%s", err, out)
	}
}

func mapSubset(sub, super map[string]string) bool {
	if len(sub) == 0 {
		return false
	}
	for k, v := range sub {
		if super[k] != v {
			return false
		}
	}
	return true
}

// TestStrictDecodingRejects proves the decoding is strict: a misspelt field
// (case included), an unknown one and a duplicate key are errors.
func TestStrictDecodingRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"case":      "apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  template:\n    spec:\n      hostPid: true\n",
		"unknown":   "apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  template:\n    spec:\n      hostPIDs: true\n",
		"duplicate": "apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  minReadySeconds: 1\n  minReadySeconds: 2\n",
	} {
		var ds appsv1.DaemonSet
		if err := DecodeStrict([]byte(doc), &ds); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func loadBase(t *testing.T) *Base {
	t.Helper()
	b, err := Load(".")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
