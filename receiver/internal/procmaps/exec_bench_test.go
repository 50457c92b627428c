//go:build linux

package procmaps

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkExec is the table's cost per exec event of a real process:
// "read" is an image still running when its event is applied (read from
// /proc at once, as every exec was before the events of one read of the
// ring were settled together), "ended" one whose exit came in the same
// read (nothing read), "deferred" one still running when applied whose
// exit came before its deferred read was due (nothing read). The build
// IDs of its files are cached after the first iteration in all three.
func BenchmarkExec(b *testing.B) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := uint32(cmd.Process.Pid)
	text := sleepText(b, cmd.Process.Pid)
	for _, name := range []string{"read", "ended", "deferred"} {
		b.Run(name, func(b *testing.B) {
			c := NewCache(CacheConfig{})
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				i++
				k := Key{PID: pid, StartTime: 1, ExecID: i}
				c.Exec(k, ExecInfo{PPID: 1, Comm: "sleep", Filename: text.Path, Text: text, Ended: name == "ended", Defer: name == "deferred"})
				if name == "deferred" {
					// Its exit came before the read was due.
					c.Exit(k)
					c.ReadExec(k)
				}
			}
			b.ReportMetric(float64(c.Stats().Refreshes)/float64(i), "reads/exec")
		})
	}
}

// sleepText waits until the sleep of pid has its text mapped and returns it.
func sleepText(b *testing.B, pid int) Mapping {
	b.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
		if err != nil {
			b.Fatal(err)
		}
		maps, err := ParseMaps(f)
		_ = f.Close()
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range maps {
			if m.Executable() && strings.HasSuffix(m.Path, "/sleep") {
				return m
			}
		}
	}
	b.Fatal("sleep's text not mapped within 5s")
	return Mapping{}
}
