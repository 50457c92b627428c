package procmaps

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

func TestParseMapsTestdata(t *testing.T) {
	file := func(start, limit uint64, perms string, off uint64, maj, min uint32, ino uint64, path string) Mapping {
		return Mapping{Start: start, Limit: limit, Perms: perms, Offset: off, Major: maj, Minor: min, Inode: ino, Path: path, Kind: KindFile}
	}
	special := func(start, limit uint64, perms, name string) Mapping {
		return Mapping{Start: start, Limit: limit, Perms: perms, Path: name, Kind: KindSpecial}
	}
	anon := func(start, limit uint64, perms string) Mapping {
		return Mapping{Start: start, Limit: limit, Perms: perms, Kind: KindAnonymous}
	}
	deleted := func(m Mapping) Mapping { m.Deleted = true; return m }

	tests := []struct {
		file string
		want []Mapping
	}{
		{
			file: "x86_64.maps",
			want: []Mapping{
				file(0x55d0c7a00000, 0x55d0c7a04000, "r--p", 0, 0xfd, 1, 1835057, "/usr/bin/cat"),
				file(0x55d0c7a04000, 0x55d0c7a09000, "r-xp", 0x4000, 0xfd, 1, 1835057, "/usr/bin/cat"),
				file(0x55d0c7a09000, 0x55d0c7a0c000, "r--p", 0x9000, 0xfd, 1, 1835057, "/usr/bin/cat"),
				special(0x55d0c8f1e000, 0x55d0c8f3f000, "rw-p", "[heap]"),
				anon(0x7f3a1c000000, 0x7f3a1c021000, "rw-p"),
				file(0x7f3a1d428000, 0x7f3a1d450000, "r--p", 0, 0x103, 2, 2491, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
				file(0x7f3a1d450000, 0x7f3a1d5e5000, "r-xp", 0x28000, 0x103, 2, 2491, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
				special(0x7ffd5c9e1000, 0x7ffd5ca02000, "rw-p", "[stack]"),
				special(0x7ffd5cbd4000, 0x7ffd5cbd8000, "r--p", "[vvar]"),
				special(0x7ffd5cbd8000, 0x7ffd5cbda000, "r-xp", "[vdso]"),
				special(0xffffffffff600000, 0xffffffffff601000, "--xp", "[vsyscall]"),
			},
		},
		{
			file: "deleted.maps",
			want: []Mapping{
				deleted(file(0x7f0000000000, 0x7f0000001000, "r-xp", 0x1000, 8, 1, 4242, "/tmp/jit-1234.so")),
				deleted(file(0x7f0000001000, 0x7f0000002000, "rw-s", 0, 0, 1, 1025, "/dev/zero")),
				deleted(file(0x7f0000002000, 0x7f0000003000, "r-xp", 0, 0, 1, 77, "/memfd:wasm code")),
			},
		},
		{
			file: "spaces.maps",
			want: []Mapping{
				file(0x400000, 0x401000, "r-xp", 0, 8, 1, 99, "/opt/My App/bin/my app"),
				file(0x401000, 0x402000, "r--p", 0x1000, 8, 1, 99, "/opt/My App/bin/my app"),
				deleted(file(0x600000, 0x601000, "r-xp", 0, 8, 1, 100, "/opt/odd  name (deleted)")),
			},
		},
		{
			file: "special.maps",
			want: []Mapping{
				special(0x7f0000000000, 0x7f0000100000, "rw-p", "[anon:dalvik-main space]"),
				anon(0x7f0000100000, 0x7f0000200000, "rwxp"),
				special(0x7f0000200000, 0x7f0000300000, "rw-p", "[stack:1234]"),
				anon(0x7f0000300000, 0x7f0000400000, "---p"),
				special(0x7f0000400000, 0x7f0000500000, "r-xp", "[uprobes]"),
			},
		},
		{
			file: "i386.maps",
			want: []Mapping{
				file(0x08048000, 0x08049000, "r-xp", 0, 8, 1, 1321, "/home/u/a.out"),
				file(0x08049000, 0x0804a000, "rw-p", 0, 8, 1, 1321, "/home/u/a.out"),
				special(0x0804a000, 0x0806b000, "rw-p", "[heap]"),
				file(0xf7d8e000, 0xf7f5f000, "r-xp", 0, 8, 1, 2886, "/lib/i386-linux-gnu/libc-2.27.so"),
				special(0xf7f87000, 0xf7f8a000, "r--p", "[vvar]"),
				special(0xf7f8a000, 0xf7f8b000, "r-xp", "[vdso]"),
				special(0xffcc8000, 0xffce9000, "rw-p", "[stack]"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseMaps(openTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("ParseMaps: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d mappings, want %d:\n%+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("mapping %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseMapsMalformed(t *testing.T) {
	tests := []struct {
		file     string
		line     int
		contains string
	}{
		{"malformed_range.maps", 2, "no '-'"},
		{"malformed_perms.maps", 3, "bad permissions"},
		{"malformed_offset.maps", 1, "bad offset"},
		{"malformed_device.maps", 1, "no ':'"},
		{"malformed_inode.maps", 1, "bad inode"},
		{"malformed_truncated.maps", 1, "bad inode"},
		{"malformed_empty_range.maps", 1, "empty address range"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := ParseMaps(openTestdata(t, tt.file))
			checkMapsErr(t, err, tt.line, tt.contains)
		})
	}
}

func TestParseMapsMalformedInline(t *testing.T) {
	tests := []struct {
		name, input string
		contains    string
	}{
		{"bad start", "zz-1000 r-xp 0 08:01 1 /x", "bad start"},
		{"bad end", "1000-zz r-xp 0 08:01 1 /x", "bad end"},
		{"start too long", "12345678901234567-1 r-xp 0 08:01 1 /x", "bad start"},
		{"short perms", "1000-2000 r-x 0 08:01 1 /x", "bad permissions"},
		{"bad share flag", "1000-2000 r-xq 0 08:01 1 /x", "bad permissions"},
		{"bad major", "1000-2000 r-xp 0 g8:01 1 /x", "bad device"},
		{"huge minor", "1000-2000 r-xp 0 08:100000000 1 /x", "bad device"},
		{"inode overflow", "1000-2000 r-xp 0 08:01 18446744073709551616 /x", "bad inode"},
		{"inode too long", "1000-2000 r-xp 0 08:01 000000000000000000001 /x", "bad inode"},
		{"only range", "1000-2000", "bad permissions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMaps(strings.NewReader("1-2 ---p 0 00:00 0\n" + tt.input + "\n"))
			checkMapsErr(t, err, 2, tt.contains)
		})
	}
}

func checkMapsErr(t *testing.T, err error, line int, contains string) {
	t.Helper()
	if err == nil {
		t.Fatal("ParseMaps succeeded, want error")
	}
	if !errors.Is(err, ErrMalformedMaps) {
		t.Errorf("error %v does not wrap ErrMalformedMaps", err)
	}
	if want := fmt.Sprintf("line %d:", line); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q does not contain %q", err, contains)
	}
}

func TestParseMapsEdgeCases(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		got, err := ParseMaps(strings.NewReader(""))
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v; want no mappings", got, err)
		}
	})
	t.Run("no trailing newline and max values", func(t *testing.T) {
		got, err := ParseMaps(strings.NewReader("0-ffffffffffffffff rwxs FFFFFFFFFFFFFFFF ffffffff:ffffffff 18446744073709551615 /a"))
		if err != nil {
			t.Fatal(err)
		}
		want := Mapping{Start: 0, Limit: ^uint64(0), Perms: "rwxs", Offset: ^uint64(0), Major: ^uint32(0), Minor: ^uint32(0), Inode: ^uint64(0), Path: "/a", Kind: KindFile}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
	t.Run("too long line", func(t *testing.T) {
		line := "1000-2000 r-xp 0 08:01 1 /" + strings.Repeat("a", maxMapsLine) + "\n"
		_, err := ParseMaps(strings.NewReader("1-2 ---p 0 00:00 0\n" + line))
		checkMapsErr(t, err, 2, "longer than")
	})
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := ParseMaps(iotest.ErrReader(boom))
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want wrapped boom", err)
		}
	})
	t.Run("repeated paths share storage", func(t *testing.T) {
		got, err := ParseMaps(openTestdata(t, "x86_64.maps"))
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Path != got[1].Path || !samePtr(got[0].Path, got[1].Path) {
			t.Error("consecutive identical paths were allocated separately")
		}
	})
	t.Run("methods", func(t *testing.T) {
		m := Mapping{Start: 0x1000, Limit: 0x2000, Offset: 0x500, Perms: "r-xp"}
		if !m.Executable() {
			t.Error("r-xp not executable")
		}
		if got := m.FileOffset(0x1010); got != 0x510 {
			t.Errorf("FileOffset = %#x, want 0x510", got)
		}
	})
}

func samePtr(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

func TestParseMapsSelf(t *testing.T) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		testenv.Skip(t, "no procfs: %v", err)
	}
	defer f.Close()
	ms, err := ParseMaps(f)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var sawExe, sawStack bool
	for i, m := range ms {
		if i > 0 && m.Start < ms[i-1].Limit {
			t.Errorf("mapping %d overlaps or is out of order", i)
		}
		sawExe = sawExe || (m.Path == exe && m.Executable() && m.Kind == KindFile)
		sawStack = sawStack || (m.Path == "[stack]" && m.Kind == KindSpecial)
	}
	if !sawExe || !sawStack {
		t.Errorf("own maps lack executable (%v) or stack (%v)", sawExe, sawStack)
	}
}

func BenchmarkParseMaps(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "x86_64.maps"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMaps(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseMaps(f *testing.F) {
	for _, name := range []string{"x86_64.maps", "deleted.maps", "spaces.maps", "special.maps", "i386.maps", "malformed_perms.maps"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := ParseMaps(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.Limit <= m.Start || len(m.Perms) != 4 {
				t.Fatalf("accepted invalid mapping %+v", m)
			}
		}
	})
}

func openTestdata(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
