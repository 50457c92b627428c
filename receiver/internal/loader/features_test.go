package loader

import (
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

// TestFeatures probes the running kernel. In the kernel matrix's guests it
// asserts that exactly the features test/kernels/kernels.txt declares
// missing are missing: the probe set tests then check that the matching
// fallbacks ran.
func TestFeatures(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "probing kernel features needs CAP_BPF (run as root)")
	}
	fs, err := ProbeFeatures()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel features: %s", fs)
	if !fs.Has(FeatureBTF) {
		t.Error("no kernel BTF: every probe set needs it")
	}
	missing := fs.Missing()
	if want, ok := testenv.ExpectedMissing(); ok {
		if !slices.Equal(missing, want) {
			t.Errorf("missing features %v, want %v (%s)", missing, want, testenv.ExpectMissingEnv)
		}
	}
	again, err := ProbeFeatures()
	if err != nil || again.String() != fs.String() {
		t.Errorf("second probe %s, %v", again, err)
	}
	if _, err := Require("starting x", FeatureBTF); err != nil {
		t.Error(err)
	}
	_, err = Require("starting x", FeatureBTF, Feature{Name: "time_travel", Since: "9.9"})
	if !errors.Is(err, ebpf.ErrNotSupported) || err.Error() != "starting x: the kernel lacks time_travel (Linux 9.9): not supported" {
		t.Errorf("requiring a feature no kernel has: %v", err)
	}
}

func TestFeaturesReport(t *testing.T) {
	fs := Features{have: make([]bool, len(AllFeatures))}
	for i := range fs.have {
		fs.have[i] = AllFeatures[i].Name != "tp_btf"
	}
	if !fs.Has(FeatureBTF) || fs.Has(FeatureTPBTF) || fs.Has(Feature{Name: "unknown"}) {
		t.Errorf("Has: %s", fs)
	}
	if got := fs.Missing(); !slices.Equal(got, []string{"tp_btf"}) {
		t.Errorf("Missing: %v", got)
	}
	if s := fs.String(); !strings.HasPrefix(s, "btf=yes tp_btf=no task_storage=yes ") {
		t.Errorf("String: %s", s)
	}
	for _, f := range AllFeatures {
		if f.Name == "" || f.Since == "" || f.Without == "" || f.probe == nil {
			t.Errorf("feature %+v incomplete", f)
		}
	}
}

func TestProbeAllClassifiesErrors(t *testing.T) {
	ok := Feature{Name: "a", probe: func(*probeEnv) error { return nil }}
	absent := Feature{Name: "b", probe: func(*probeEnv) error { return notSupported("b", errors.New("old")) }}
	fs, err := probeAll([]Feature{ok, absent})
	if err != nil || len(fs.have) != 2 || !fs.have[0] || fs.have[1] {
		t.Fatalf("got %+v, %v", fs, err)
	}
	denied := Feature{Name: "c", probe: func(*probeEnv) error { return syscall.EPERM }}
	if _, err := probeAll([]Feature{ok, denied}); !errors.Is(err, ErrMissingCapability) {
		t.Errorf("permission: %v", err)
	}
	broken := Feature{Name: "d", probe: func(*probeEnv) error { return errors.New("boom") }}
	if _, err := probeAll([]Feature{broken}); err == nil || err.Error() != "probing kernel feature d: boom" {
		t.Errorf("other error: %v", err)
	}
}

func TestLinkCreateUprobeMultiChecksArguments(t *testing.T) {
	if _, err := LinkCreateUprobeMulti(nil, AttachTraceUprobeSession, "/", nil, nil, 0); err == nil {
		t.Error("no offsets accepted")
	}
	if _, err := LinkCreateUprobeMulti(nil, AttachTraceUprobeSession, "/", []uint64{1}, []uint64{1, 2}, 0); err == nil {
		t.Error("cookie count mismatch accepted")
	}
}
