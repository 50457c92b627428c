package unwind

import (
	"debug/elf"
	"errors"
	"os"
	"sort"
	"testing"
)

func ehFrame(t testing.TB, path string) ([]byte, uint64) {
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".eh_frame")
	data, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	return data, s.Addr
}

func checkSorted(t testing.TB, tab *Table) {
	if !sort.SliceIsSorted(tab.Rows, func(i, j int) bool { return tab.Rows[i].PC < tab.Rows[j].PC }) {
		t.Fatal("rows not sorted")
	}
	for i := 1; i < len(tab.Rows); i++ {
		if tab.Rows[i].PC == tab.Rows[i-1].PC {
			t.Fatalf("two rows at %#x", tab.Rows[i].PC)
		}
	}
}

// Every truncation of a real .eh_frame either parses (the cut fell between
// entries... and the rest is read as a terminator) or fails with
// ErrTruncated or ErrUnsupported; none panics.
func TestTruncatedEHFrame(t *testing.T) {
	data, addr := ehFrame(t, "/usr/bin/xz")
	truncated := 0
	for n := 0; n < len(data); n += 7 {
		tab, err := Build(data[:n], addr, true)
		switch {
		case err == nil:
			checkSorted(t, tab)
		case errors.Is(err, ErrTruncated) || errors.Is(err, ErrUnsupported):
			truncated++
		default:
			t.Fatalf("cut at %d: unexpected error %v", n, err)
		}
	}
	if truncated == 0 {
		t.Fatal("no truncation was detected")
	}
}

func TestCorruptFields(t *testing.T) {
	data, addr := ehFrame(t, "/usr/bin/xz")
	cases := map[string]func([]byte){
		"huge length":     func(b []byte) { b[0], b[1], b[2], b[3] = 0xf0, 0xff, 0xff, 0x7f },
		"64-bit length":   func(b []byte) { b[0], b[1], b[2], b[3] = 0xff, 0xff, 0xff, 0xff },
		"cie version":     func(b []byte) { b[8] = 9 },
		"augmentation":    func(b []byte) { b[9] = 'q' },
		"fde cie pointer": func(b []byte) { b[0x18+4] = 0xff; b[0x18+5] = 0xff },
	}
	for name, corrupt := range cases {
		b := append([]byte(nil), data...)
		corrupt(b)
		if _, err := Build(b, addr, true); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestNoCFI(t *testing.T) {
	// A relocatable object made of data only has neither section.
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/d.c", []byte("int data[4] = {1};\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runCmd("gcc", "-c", "-fno-asynchronous-unwind-tables", "-o", dir+"/d.o", dir+"/d.c"); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildFile(dir+"/d.o", nil); !errors.Is(err, ErrNoCFI) {
		t.Fatalf("got %v, want ErrNoCFI", err)
	}
	if _, err := BuildFile(dir+"/missing", nil); err == nil {
		t.Fatal("want an error for a missing file")
	}
}

func FuzzBuild(f *testing.F) {
	data, addr := ehFrame(f, "/usr/bin/xz")
	f.Add(data[:min(len(data), 512)], true)
	f.Add(data[:min(len(data), 2048)], false)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0}, true)
	f.Fuzz(func(t *testing.T, b []byte, eh bool) {
		tab, err := Build(b, addr, eh)
		if err != nil {
			return
		}
		checkSorted(t, tab)
	})
}

// BenchmarkBuild builds libc's table from its .eh_frame (the file read
// once, outside the loop).
func BenchmarkBuild(b *testing.B) {
	data, addr := ehFrame(b, "/usr/lib/x86_64-linux-gnu/libc.so.6")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Build(data, addr, true); err != nil {
			b.Fatal(err)
		}
	}
}
