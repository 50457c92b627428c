package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCCBuildsListedProgram(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		Skip(t, "gcc not installed")
	}
	t.Setenv(ProgramsEnv, "")
	root, pkg, err := packageDir()
	if err != nil {
		t.Fatal(err)
	}
	if pkg != "internal/testenv" {
		t.Fatalf("package dir %q", pkg)
	}
	// Every listed program builds, as the matrix builds it for its guests.
	b, err := os.ReadFile(filepath.Join(root, Manifest))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		n++
		if err := os.Chdir(filepath.Join(root, f[0])); err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, strings.ReplaceAll(f[0], "/", "_"))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(sub, f[1])
		if err := cc(bin, f[2:]); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}
	if err := os.Chdir(filepath.Join(root, pkg)); err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d programs listed", n)
	}
}

func TestCCRejectsUnlistedProgram(t *testing.T) {
	t.Setenv(ProgramsEnv, "")
	err := cc(filepath.Join(t.TempDir(), "x"), []string{"-O2", "nowhere.c"})
	if err == nil || !strings.Contains(err.Error(), `add the line "internal/testenv x -O2 nowhere.c" to test/kernels/programs.txt`) {
		t.Fatalf("got %v", err)
	}
}

func TestCCCopiesPrebuilt(t *testing.T) {
	pre := t.TempDir()
	dir := filepath.Join(pre, "internal", "testenv")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prog"), []byte("ELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prog.args"), []byte("-O1 prog.c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(ProgramsEnv, pre)
	out := t.TempDir()
	bin := CC(t, out, "prog", "-O1", "prog.c")
	if b, err := os.ReadFile(bin); err != nil || string(b) != "ELF" || bin != filepath.Join(out, "prog") {
		t.Fatalf("copied %q to %s: %v", b, bin, err)
	}
	if err := cc(filepath.Join(out, "prog"), []string{"-O2", "prog.c"}); err == nil ||
		!strings.Contains(err.Error(), `was built with "-O1 prog.c", the test asks for "-O2 prog.c"`) {
		t.Fatalf("argument drift: %v", err)
	}
	if err := cc(filepath.Join(out, "other"), nil); err == nil || !strings.Contains(err.Error(), "is it listed in") {
		t.Fatalf("missing program: %v", err)
	}
}

func TestPackageDirWithoutModule(t *testing.T) {
	wd, _ := os.Getwd()
	t.Cleanup(func() { _ = os.Chdir(wd) })
	if err := os.Chdir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := packageDir(); err == nil || !strings.Contains(err.Error(), "no go.mod above") {
		t.Fatalf("got %v", err)
	}
}

func TestExpectedMissing(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want []string
		ok   bool
	}{
		{"", nil, false},
		{"none", []string{}, true},
		{"a,b", []string{"a", "b"}, true},
	} {
		t.Setenv(ExpectMissingEnv, tc.env)
		got, ok := ExpectedMissing()
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v %v", tc.env, got, ok)
		}
	}
}

func TestEmulated(t *testing.T) {
	t.Setenv(EmulatedEnv, "")
	if Emulated() {
		t.Error("unset reported as emulated")
	}
	if MinSampleShare() != 0.8 {
		t.Error("sample share loosened on real hardware")
	}
	t.Setenv(EmulatedEnv, "1")
	if !Emulated() || MinSampleShare() != 0.15 {
		t.Error("1 not reported as emulated")
	}
}
