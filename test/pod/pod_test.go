//go:build linux

// Package pod runs the Kubernetes DaemonSet's pod template
// (deploy/kubernetes) with `podman kube play` on this machine: both images
// built by scripts/images.sh, the shared socket volume, the host PID
// namespace, a workload on the host; profiles with named functions and
// metrics must come out of the collector container.
package pod

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pprofile"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/ebpf-otel/ebpf-otel/deploy/kubernetes"
	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

// podPrefix names every run's pod; podName adds this test process's pid, so
// two runs on one machine (a developer's and CI's) never share a pod, and a
// run can tell a killed run's leftovers (its pid is gone) from a live one's.
const podPrefix = "ebpf-otel-pod-test"

var podName = fmt.Sprintf("%s-%d", podPrefix, os.Getpid())

// removeLeftoverPods removes the pods of earlier runs whose test process is
// gone (killed before its cleanup ran), and the unsuffixed name older
// checkouts used; a live run's pod is left alone.
func removeLeftoverPods(t *testing.T) {
	t.Helper()
	names := run(t, 30*time.Second, "podman", "pod", "ps", "--filter", "name="+podPrefix, "--format", "{{.Name}}")
	for _, name := range strings.Fields(names) {
		if stalePod(name) {
			_ = exec.Command("podman", "pod", "rm", "--force", name).Run()
		}
	}
}

// stalePod says whether name is a pod of this test whose run has ended.
func stalePod(name string) bool {
	if name == podPrefix {
		return true
	}
	suffix, ok := strings.CutPrefix(name, podPrefix+"-")
	if !ok {
		return false // another project's pod that only starts like ours
	}
	pid, err := strconv.Atoi(suffix)
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	// Signal 0 checks that the pid exists; the pid may since have been
	// reused by another process, which only keeps a leftover a while longer.
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

func need(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "the pod test runs podman and loads eBPF programs: run as root (npm test)")
	}
	for _, tool := range []string{"podman", "mmdebstrap", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "%s not installed (scripts/setup.sh installs it)", tool)
		}
	}
}

func run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

// testConfig is the ConfigMap's collector config with its OTLP exporter
// replaced by file exporters into /out (a host directory): everything else
// (receiver, sidecar processors over the shared socket) is the shipped one.
func testConfig(t *testing.T, shipped string) string {
	t.Helper()
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(shipped), &cfg))
	cfg["exporters"] = map[string]any{
		"file/profiles": map[string]any{"path": "/out/profiles.jsonl", "format": "json"},
		"file/metrics":  map[string]any{"path": "/out/metrics.jsonl", "format": "json"},
	}
	pipes := cfg["service"].(map[string]any)["pipelines"].(map[string]any)
	for name, p := range pipes {
		p.(map[string]any)["exporters"] = []string{"file/" + name}
	}
	out, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	return string(out)
}

// podFor turns the DaemonSet's template into the Pod a node would run, plus
// a host directory for the test's file exporters. Fields podman 4.3's kube
// play does not implement are translated into what it does read (hostPID:
// see TestPodRuns):
//   - seccompProfile Localhost → its per-container seccomp annotation
//     ("localhost/<file>", read in kube play's --seccomp-profile-root, the
//     profile's directory under the node's seccomp root); RuntimeDefault is
//     podman's default already;
//   - emptyDir → a host directory (runDir) with Kubernetes' emptyDir mode
//     (0777): podman creates emptyDir volumes root-owned 0755, where the
//     non-root sidecar cannot create its socket, and ignores fsGroup.
func podFor(t *testing.T, b *kubernetes.Base, outDir, runDir string) []byte {
	t.Helper()
	spec := *b.DaemonSet.Spec.Template.Spec.DeepCopy()
	for i := range spec.Volumes {
		if v := &spec.Volumes[i]; v.EmptyDir != nil {
			v.EmptyDir = nil
			v.HostPath = &corev1.HostPathVolumeSource{Path: runDir}
		}
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "out", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: outDir}}})
	annotations := map[string]string{}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if c.Name == "collector" {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "out", MountPath: "/out"})
		}
		if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil {
			switch p := sc.SeccompProfile; p.Type {
			case corev1.SeccompProfileTypeLocalhost:
				// podman 4.3 reads only the first path element after
				// "localhost/": the profile's directory becomes the root.
				annotations["container.seccomp.security.alpha.kubernetes.io/"+c.Name] = "localhost/" + path.Base(*p.LocalhostProfile)
			case corev1.SeccompProfileTypeUnconfined:
				annotations["container.seccomp.security.alpha.kubernetes.io/"+c.Name] = "unconfined"
			}
		}
	}
	pod := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: podName, Labels: b.DaemonSet.Spec.Template.Labels, Annotations: annotations},
		Spec:       spec,
	}
	cm := b.Config.DeepCopy()
	cm.Namespace = ""
	cm.Data["collector.yaml"] = testConfig(t, b.Config.Data["collector.yaml"])
	var docs bytes.Buffer
	for _, obj := range []any{cm, &pod} {
		y, err := yaml.Marshal(obj)
		require.NoError(t, err)
		docs.WriteString("---\n")
		docs.Write(y)
	}
	return docs.Bytes()
}

func TestPodRuns(t *testing.T) {
	need(t)
	root := repoRoot(t)
	run(t, 10*time.Minute, filepath.Join(root, "scripts", "images.sh"))

	b, err := kubernetes.Load(filepath.Join(root, "deploy", "kubernetes"))
	require.NoError(t, err)

	// The host workload: a CPU-bound program with known function names.
	spinBin := filepath.Join(t.TempDir(), "spin")
	run(t, time.Minute, "gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-o", spinBin, filepath.Join(root, "receiver", "ebpfreceiver", "testdata", "spin.c"))
	spin := exec.Command(spinBin)
	require.NoError(t, spin.Start())
	t.Cleanup(func() { _ = spin.Process.Kill(); _ = spin.Wait() })

	outDir, runDir := t.TempDir(), t.TempDir()
	for _, d := range []string{outDir, runDir} {
		require.NoError(t, os.Chmod(d, 0o777)) // both containers run as a non-root user
	}
	podYAML := filepath.Join(t.TempDir(), "pod.yaml")
	require.NoError(t, os.WriteFile(podYAML, podFor(t, b, outDir, runDir), 0o600))

	removeLeftoverPods(t)
	// podman 4.3's kube play ignores hostPID: containers.conf's pidns =
	// "host", for this one command, gives the pod's containers the host's
	// PID namespace, as hostPID: true does on a node.
	conf := filepath.Join(t.TempDir(), "containers.conf")
	require.True(t, b.DaemonSet.Spec.Template.Spec.HostPID)
	require.NoError(t, os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\npidns = \"host\"\n\n[engine]\nruntime = \"runc\"\n"), 0o644))
	started := time.Now()
	// The node's seccomp directory: the shipped Localhost profile where the
	// DaemonSet's localhostProfile names it.
	localhost := *b.DaemonSet.Spec.Template.Spec.Containers[0].SecurityContext.SeccompProfile.LocalhostProfile
	seccompDir := filepath.Join(t.TempDir(), path.Dir(localhost))
	require.NoError(t, os.MkdirAll(seccompDir, 0o755))
	profile, err := os.ReadFile(filepath.Join(root, "deploy", "kubernetes", "seccomp", path.Base(localhost)))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(seccompDir, path.Base(localhost)), profile, 0o644))
	play := exec.Command("podman", "kube", "play", "--seccomp-profile-root", seccompDir, podYAML)
	play.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	out, err := play.CombinedOutput()
	require.NoError(t, err, "podman kube play\n%s", out)
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range []string{"collector", "sidecar"} {
				out, _ := exec.Command("podman", "logs", "--tail", "40", podName+"-"+c).CombinedOutput()
				t.Logf("%s logs:\n%s", c, out)
			}
		}
		if os.Getenv("EBPF_OTEL_KEEP_POD") == "" {
			_ = exec.Command("podman", "pod", "rm", "--force", "--time", "10", podName).Run()
		}
	})

	// Named functions of the host workload, symbolized by the sidecar
	// through the shared socket; metrics from the same collector.
	deadline := started.Add(4 * time.Minute)
	if d := os.Getenv("EBPF_OTEL_POD_WAIT"); d != "" {
		w, err := time.ParseDuration(d)
		require.NoError(t, err)
		deadline = started.Add(w)
	}
	var firstProfile time.Duration
	for time.Now().Before(deadline) {
		if firstProfile == 0 && fileHas(t, filepath.Join(outDir, "profiles.jsonl"), func(line []byte) bool {
			return hasFunction(t, line, "spin_leaf")
		}) {
			firstProfile = time.Since(started)
			t.Logf("pod start to the first exported profile naming spin_leaf: %.1f s", firstProfile.Seconds())
		}
		if firstProfile != 0 && fileHas(t, filepath.Join(outDir, "metrics.jsonl"), func(line []byte) bool {
			return bytes.Contains(line, []byte(`"syscall.calls"`))
		}) {
			break
		}
		running := run(t, 30*time.Second, "podman", "pod", "ps", "--filter", "name=^"+podName+"$", "--format", "{{.Status}}")
		require.Contains(t, running, "Running", "the pod stopped")
		time.Sleep(2 * time.Second)
	}
	require.NotZero(t, firstProfile, "no profile naming spin_leaf within 4 minutes of pod start")
	require.True(t, fileHas(t, filepath.Join(outDir, "metrics.jsonl"), func(line []byte) bool {
		return bytes.Contains(line, []byte(`"syscall.calls"`))
	}), "no syscall.calls metrics exported")

	// Both containers as the shipped non-root user, with the root
	// filesystem read-only, in the host's PID namespace.
	for _, c := range []string{"collector", "sidecar"} {
		out := run(t, 30*time.Second, "podman", "inspect", "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.PidMode}}", podName+"-"+c)
		require.Equal(t, "65532:65532 true host", strings.TrimSpace(out), "%s user, read-only root, host PID namespace", c)
		// Both under a seccomp filter: the collector under the shipped
		// Localhost profile (it loaded its programs through it above), the
		// sidecar under the runtime's default.
		pid := strings.TrimSpace(run(t, 30*time.Second, "podman", "inspect", "--format", "{{.State.Pid}}", podName+"-"+c))
		status, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
		require.NoError(t, err)
		require.Regexp(t, `(?m)^Seccomp:\s+2$`, string(status), "%s runs under a seccomp filter", c)
	}
	// The collector runs with one P (GOMAXPROCS in the DaemonSet).
	pid := strings.TrimSpace(run(t, 30*time.Second, "podman", "inspect", "--format", "{{.State.Pid}}", podName+"-collector"))
	environ, err := os.ReadFile(filepath.Join("/proc", pid, "environ"))
	require.NoError(t, err)
	require.Contains(t, "\x00"+string(environ), "\x00GOMAXPROCS=1\x00")
	// The sidecar's heap bound is a node argument (NODE_OPTIONS is ignored
	// for a binary with file capabilities).
	pid = strings.TrimSpace(run(t, 30*time.Second, "podman", "inspect", "--format", "{{.State.Pid}}", podName+"-sidecar"))
	cmdline, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
	require.NoError(t, err)
	for _, arg := range []string{"--max-old-space-size=64", "--max-semi-space-size=8", "--no-allocation-site-pretenuring", "--max-opt=2", "--cache-bytes\x0033554432", "--flamegraph-bytes\x008388608"} {
		require.Contains(t, string(cmdline), arg+"\x00")
	}
}

func fileHas(t *testing.T, path string, match func([]byte) bool) bool {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return false
	}
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	for sc.Scan() {
		if match(sc.Bytes()) {
			return true
		}
	}
	return false
}

// hasFunction reports whether an OTLP/JSON profiles line names function fn
// in its dictionary's function table.
func hasFunction(t *testing.T, line []byte, fn string) bool {
	t.Helper()
	p, err := (&pprofile.JSONUnmarshaler{}).UnmarshalProfiles(line)
	if err != nil {
		return false // a line still being written
	}
	d := p.Dictionary()
	for i := 0; i < d.FunctionTable().Len(); i++ {
		if d.StringTable().At(int(d.FunctionTable().At(i).NameStrindex())) == fn {
			return true
		}
	}
	return false
}

func TestStalePod(t *testing.T) {
	live := exec.Command("sleep", "60")
	require.NoError(t, live.Start())
	t.Cleanup(func() { _ = live.Process.Kill(); _ = live.Wait() })
	ended := exec.Command("true")
	require.NoError(t, ended.Run())

	require.True(t, stalePod(podPrefix), "the unsuffixed name of older checkouts")
	require.True(t, stalePod(podName), "this run's own name, left by a killed earlier run with the same pid")
	require.False(t, stalePod(fmt.Sprintf("%s-%d", podPrefix, live.Process.Pid)), "a live run's pod")
	require.True(t, stalePod(fmt.Sprintf("%s-%d", podPrefix, ended.Process.Pid)), "an ended run's pod")
	require.False(t, stalePod(podPrefix+"-other"), "a pod that only starts like ours")
	require.False(t, stalePod("ebpf-otel-pod-testing-1"), "a pod that only starts like ours")
}
