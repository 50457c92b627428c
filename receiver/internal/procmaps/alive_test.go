package procmaps

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAlive(t *testing.T) {
	if !Alive("/proc", uint32(os.Getpid())) {
		t.Error("this process is not alive in /proc")
	}
	root := t.TempDir()
	if Alive(root, uint32(os.Getpid())) {
		t.Error("alive in an empty proc root")
	}
	if err := os.Mkdir(filepath.Join(root, "4242"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !Alive(root, 4242) {
		t.Error("pid 4242 of the proc root not found")
	}
}
