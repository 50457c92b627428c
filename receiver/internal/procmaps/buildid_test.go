package procmaps

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
)

var (
	testGNUID    = []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	testGNUHex   = "deadbeef000102030405060708090a0b0c0d0e0f"
	testGoID     = "abcDEF123/ghiJKL456/mnoPQR789/stuVWX012"
	abiTagNote   = testNote{name: "GNU", typ: 1, desc: []byte{0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}}
	propertyNote = testNote{name: "GNU", typ: 5, desc: make([]byte, 12)}
)

func TestReadBuildIDSynthetic(t *testing.T) {
	layouts := []struct {
		name string
		is64 bool
		bo   binary.ByteOrder
	}{
		{"elf32le", false, binary.LittleEndian},
		{"elf32be", false, binary.BigEndian},
		{"elf64le", true, binary.LittleEndian},
		{"elf64be", true, binary.BigEndian},
	}
	contents := []struct {
		name  string
		notes []testNote
		want  BuildID
	}{
		{"gnu", []testNote{gnuNote(testGNUID)}, BuildID{GNU: testGNUHex}},
		{"go", []testNote{goNote(testGoID)}, BuildID{Go: testGoID}},
		{"both", []testNote{abiTagNote, goNote(testGoID), gnuNote(testGNUID)}, BuildID{GNU: testGNUHex, Go: testGoID}},
		{"go with NUL", []testNote{{name: "Go", typ: ntGoBuildID, desc: []byte(testGoID + "\x00\x00")}}, BuildID{Go: testGoID}},
		{"odd name length", []testNote{{name: "GNUX", typ: ntGNUBuildID, desc: []byte{1}}, gnuNote([]byte{1, 2, 3})}, BuildID{GNU: "010203"}},
		{"first of duplicates", []testNote{gnuNote([]byte{1}), gnuNote([]byte{2})}, BuildID{GNU: "01"}},
		{"none", []testNote{abiTagNote}, BuildID{}},
		{"empty desc", []testNote{gnuNote(nil), goNote("")}, BuildID{}},
		{"oversized gnu", []testNote{gnuNote(make([]byte, maxGNUBuildID+1))}, BuildID{}},
		{"nameless", []testNote{{typ: ntGNUBuildID, desc: []byte{1}}}, BuildID{}},
	}
	for _, l := range layouts {
		for _, c := range contents {
			t.Run(l.name+"/"+c.name, func(t *testing.T) {
				for _, where := range []string{"segment", "section"} {
					e := testELF{is64: l.is64, bo: l.bo}
					r := testRegion{notes: c.notes}
					if where == "segment" {
						e.segments = []testRegion{r}
					} else {
						e.sections = []testRegion{r}
					}
					got, err := ReadBuildID(bytes.NewReader(e.bytes()))
					if c.want == (BuildID{}) {
						if !errors.Is(err, ErrNoBuildID) {
							t.Errorf("%s: got %+v, %v; want ErrNoBuildID", where, got, err)
						}
						continue
					}
					if err != nil || got != c.want {
						t.Errorf("%s: got %+v, %v; want %+v", where, got, err, c.want)
					}
				}
			})
		}
	}
}

func TestReadBuildIDLayouts(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name string
		elf  testELF
		want BuildID
	}{
		{
			// .note.gnu.property is 8-aligned; with a 12-byte descriptor
			// the next note starts 4 bytes later than 4-byte alignment says.
			name: "8-byte aligned segment",
			elf: testELF{is64: true, bo: le, segments: []testRegion{{
				align: 8, notes: []testNote{propertyNote, gnuNote(testGNUID)},
			}}},
			want: BuildID{GNU: testGNUHex},
		},
		{
			name: "8-byte aligned section",
			elf: testELF{is64: true, bo: le, sections: []testRegion{{
				align: 8, notes: []testNote{propertyNote, goNote(testGoID)},
			}}},
			want: BuildID{Go: testGoID},
		},
		{
			name: "ids in separate segments",
			elf: testELF{is64: true, bo: le, segments: []testRegion{
				{align: 8, notes: []testNote{propertyNote}},
				{notes: []testNote{gnuNote(testGNUID)}},
				{notes: []testNote{goNote(testGoID)}},
			}},
			want: BuildID{GNU: testGNUHex, Go: testGoID},
		},
		{
			name: "segments without id fall back to sections",
			elf: testELF{is64: true, bo: le,
				segments: []testRegion{{notes: []testNote{abiTagNote}}},
				sections: []testRegion{{notes: []testNote{gnuNote(testGNUID)}}},
			},
			want: BuildID{GNU: testGNUHex},
		},
		{
			// The Go linker's PT_NOTE covers only .note.go.buildid.
			name: "go id in segment, gnu id in section",
			elf: testELF{is64: true, bo: le,
				segments: []testRegion{{notes: []testNote{goNote(testGoID)}}},
				sections: []testRegion{{notes: []testNote{goNote(testGoID)}}, {notes: []testNote{gnuNote(testGNUID)}}},
			},
			want: BuildID{GNU: testGNUHex, Go: testGoID},
		},
		{
			name: "PN_XNUM uses sections",
			elf: testELF{is64: true, bo: le, phnumOverride: pnXNum,
				segments: []testRegion{{notes: []testNote{goNote("ignored")}}},
				sections: []testRegion{{notes: []testNote{gnuNote(testGNUID)}}},
			},
			want: BuildID{GNU: testGNUHex},
		},
		{
			name: "id found before a corrupt segment",
			elf: testELF{is64: true, bo: le, segments: []testRegion{
				{notes: []testNote{gnuNote(testGNUID)}},
				{notes: []testNote{abiTagNote}, offset: 1 << 40},
			}},
			want: BuildID{GNU: testGNUHex},
		},
		{
			name: "note segment larger than file is read up to its end",
			elf: testELF{is64: false, bo: le, segments: []testRegion{
				{notes: []testNote{gnuNote(testGNUID)}, size: 1 << 30},
			}},
			want: BuildID{GNU: testGNUHex},
		},
		{
			name: "oversized note header stops the walk",
			elf: testELF{is64: true, bo: le, segments: []testRegion{
				{raw: append(le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 0xffffffff), 4), 3), make([]byte, 16)...)},
				{notes: []testNote{gnuNote(testGNUID)}},
			}},
			want: BuildID{GNU: testGNUHex},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadBuildID(bytes.NewReader(tt.elf.bytes()))
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestReadBuildIDNoteBudget(t *testing.T) {
	// A build ID beyond the first 64 KiB of notes is not looked for.
	filler := testNote{name: "PAD", typ: 99, desc: make([]byte, maxNoteBytes)}
	e := testELF{is64: true, bo: binary.LittleEndian, segments: []testRegion{
		{notes: []testNote{filler, gnuNote(testGNUID)}},
	}}
	cr := &countingReaderAt{r: bytes.NewReader(e.bytes())}
	if _, err := ReadBuildID(cr); !errors.Is(err, ErrNoBuildID) {
		t.Fatalf("got %v, want ErrNoBuildID", err)
	}
	if cr.n > maxNoteBytes+2*tableChunk {
		t.Errorf("read %d bytes, budget is %d", cr.n, maxNoteBytes)
	}

	// A forged header table size is scanned only up to maxTableBytes.
	e = testELF{is64: true, bo: binary.LittleEndian, phnumOverride: 0xfffe, phentsizeOverride: 0xffff}
	cr = &countingReaderAt{r: prefixReaderAt{prefix: e.bytes(), rest: zeroReaderAt{}}}
	if _, err := ReadBuildID(cr); !errors.Is(err, ErrNoBuildID) {
		t.Fatalf("got %v, want ErrNoBuildID", err)
	}
	if cr.n > 2*maxTableBytes {
		t.Errorf("read %d bytes of header table, want at most %d", cr.n, maxTableBytes)
	}
}

func TestReadBuildIDErrors(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	good64 := testELF{is64: true, bo: le, segments: []testRegion{{notes: []testNote{gnuNote(testGNUID)}}}}.bytes()
	good32 := testELF{is64: false, bo: be, sections: []testRegion{{notes: []testNote{gnuNote(testGNUID)}}}}.bytes()
	patch := func(b []byte, off int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		want    error
		message string
	}{
		{"empty", nil, ErrNotELF, ""},
		{"short", []byte("\x7fEL"), ErrNotELF, ""},
		{"text", []byte("#!/bin/sh\necho hello\n"), ErrNotELF, ""},
		{"magic only", []byte("\x7fELF\x02\x01"), ErrCorruptELF, "identification"},
		{"bad class", patch(good64, 4, 9), ErrCorruptELF, "class"},
		{"bad encoding", patch(good64, 5, 0), ErrCorruptELF, "encoding"},
		{"truncated elf64 header", good64[:40], ErrCorruptELF, "ELF64 header"},
		{"truncated elf32 header", good32[:40], ErrCorruptELF, "ELF32 header"},
		{"truncated program headers", good64[:100], ErrCorruptELF, "header table"},
		{"truncated notes", good64[:64+2*56+20], ErrCorruptELF, "notes at"},
		{"truncated section headers", good32[:len(good32)-10], ErrCorruptELF, "header table"},
		{"small phentsize", patch(good64, 54, 8, 0), ErrCorruptELF, "entry size"},
		{"phoff beyond int64", patch(good64, 32, 0, 0, 0, 0, 0, 0, 0, 0x80), ErrCorruptELF, "out of range"},
		{
			"note offset beyond int64",
			testELF{is64: true, bo: le, segments: []testRegion{{notes: []testNote{abiTagNote}, offset: 1 << 63}}}.bytes(),
			ErrCorruptELF, "note offset",
		},
		{
			"note past end of file",
			testELF{is64: true, bo: le, segments: []testRegion{{notes: []testNote{abiTagNote}, offset: 1 << 20}}}.bytes(),
			ErrCorruptELF, "unexpected EOF",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadBuildID(bytes.NewReader(tt.data))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %+v, %v; want %v", got, err, tt.want)
			}
			if !strings.Contains(fmt.Sprint(err), tt.message) {
				t.Errorf("error %q does not mention %q", err, tt.message)
			}
		})
	}

	t.Run("every truncation", func(t *testing.T) {
		for _, data := range [][]byte{good64, good32} {
			for n := range len(data) - 1 {
				id, err := ReadBuildID(bytes.NewReader(data[:n]))
				if err == nil && id.GNU != testGNUHex {
					t.Fatalf("truncated to %d: got %+v without error", n, id)
				}
			}
		}
	})

	t.Run("read error", func(t *testing.T) {
		boom := errors.New("boom")
		if _, err := ReadBuildID(errReaderAt{boom}); !errors.Is(err, boom) {
			t.Fatalf("got %v, want boom", err)
		}
	})
}

func TestReadBuildIDFile(t *testing.T) {
	dir := t.TempDir()
	elfPath := filepath.Join(dir, "lib.so")
	data := testELF{is64: true, bo: binary.LittleEndian, segments: []testRegion{{notes: []testNote{gnuNote(testGNUID), goNote(testGoID)}}}}.bytes()
	if err := os.WriteFile(elfPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBuildIDFile(elfPath)
	if err != nil || got != (BuildID{GNU: testGNUHex, Go: testGoID}) {
		t.Fatalf("got %+v, %v", got, err)
	}

	if _, err := ReadBuildIDFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want ErrNotExist", err)
	}
	if _, err := ReadBuildIDFile(dir); !errors.Is(err, ErrNotRegular) {
		t.Errorf("directory: got %v, want ErrNotRegular", err)
	}
	if _, err := ReadBuildIDFile("/dev/null"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("/dev/null: got %v, want ErrNotRegular", err)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadBuildIDFile(fifo); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("fifo: got %v, want ErrNotRegular", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadBuildIDFile blocked on a FIFO")
	}
}

func TestReadBuildIDFileSymlink(t *testing.T) {
	// A symlink is never followed (safeopen.Open): the link itself is
	// not a regular file, whatever it points at.
	dir := t.TempDir()
	for _, target := range []string{"/dev/null", "/proc/self/exe"} {
		link := filepath.Join(dir, filepath.Base(target))
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadBuildIDFile(link); !errors.Is(err, ErrNotRegular) {
			t.Fatalf("%s: got %v, want ErrNotRegular", link, err)
		}
	}
}

var readelfBuildID = regexp.MustCompile(`Build ID: ([0-9a-f]+)`)

// readelfGNUBuildID returns the GNU build ID readelf reports, "none" if it
// reports none, or "" if readelf is not installed.
func readelfGNUBuildID(t *testing.T, path string) string {
	t.Helper()
	if _, err := exec.LookPath("readelf"); err != nil {
		return ""
	}
	out, err := exec.Command("readelf", "-n", path).Output()
	if err != nil {
		t.Fatalf("readelf -n %s: %v", path, err)
	}
	m := readelfBuildID.FindSubmatch(out)
	if m == nil {
		return "none"
	}
	return string(m[1])
}

func TestReadBuildIDSystemBinary(t *testing.T) {
	const path = "/bin/ls"
	id, err := ReadBuildIDFile(path)
	if err != nil {
		t.Fatalf("ReadBuildIDFile(%s): %v", path, err)
	}
	if len(id.GNU) < 16 || strings.ToLower(id.GNU) != id.GNU {
		t.Errorf("GNU build ID %q is not lowercase hex of a plausible length", id.GNU)
	}
	if want := readelfGNUBuildID(t, path); want != "" && id.GNU != want {
		t.Errorf("GNU build ID %q, readelf says %q", id.GNU, want)
	}
}

func TestReadBuildIDGoBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Skip(t, "go tool not found")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hi\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
	build := exec.Command(goTool, "build", "-o", bin, src)
	build.Dir = dir
	build.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(goTool, "tool", "buildid", bin).Output()
	if err != nil {
		t.Fatalf("go tool buildid: %v", err)
	}
	want := strings.TrimSpace(string(out))

	id, err := ReadBuildIDFile(bin)
	if err != nil {
		t.Fatalf("ReadBuildIDFile: %v", err)
	}
	if id.Go != want {
		t.Errorf("Go build ID %q, go tool buildid says %q", id.Go, want)
	}
	// Recent Go linkers also emit a GNU build ID derived from the Go one.
	if gnu := readelfGNUBuildID(t, bin); gnu == "none" && id.GNU != "" || gnu != "none" && gnu != "" && id.GNU != gnu {
		t.Errorf("GNU build ID %q, readelf says %q", id.GNU, gnu)
	}
}

func TestReadBuildIDCBinary(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		testenv.Skip(t, "gcc not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.c")
	if err := os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"sha1", "md5", "0x0123456789abcdef"} {
		bin := filepath.Join(dir, "main-"+mode)
		if out, err := exec.Command("gcc", "-o", bin, "-Wl,--build-id="+mode, src).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
		id, err := ReadBuildIDFile(bin)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if id.Go != "" {
			t.Errorf("%s: unexpected Go build ID %q", mode, id.Go)
		}
		if want := readelfGNUBuildID(t, bin); want != "" && id.GNU != want {
			t.Errorf("%s: GNU build ID %q, readelf says %q", mode, id.GNU, want)
		}
		if mode == "0x0123456789abcdef" && id.GNU != "0123456789abcdef" {
			t.Errorf("explicit build ID read as %q", id.GNU)
		}
	}

	// Without a build ID the file is still valid ELF.
	bin := filepath.Join(dir, "main-none")
	if out, err := exec.Command("gcc", "-o", bin, "-Wl,--build-id=none", src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	if id, err := ReadBuildIDFile(bin); !errors.Is(err, ErrNoBuildID) {
		t.Errorf("--build-id=none: got %+v, %v; want ErrNoBuildID", id, err)
	}
}

func FuzzReadBuildID(f *testing.F) {
	le, be := binary.LittleEndian, binary.BigEndian
	seeds := []testELF{
		{is64: true, bo: le, segments: []testRegion{{notes: []testNote{gnuNote(testGNUID), goNote(testGoID)}}}},
		{is64: false, bo: be, segments: []testRegion{{notes: []testNote{abiTagNote, gnuNote(testGNUID)}}}},
		{is64: true, bo: be, segments: []testRegion{{align: 8, notes: []testNote{propertyNote, gnuNote(testGNUID)}}}},
		{is64: false, bo: le, sections: []testRegion{{notes: []testNote{goNote(testGoID)}}}},
		{is64: true, bo: le, segments: []testRegion{{notes: []testNote{abiTagNote}}}, sections: []testRegion{{notes: []testNote{gnuNote(testGNUID)}}}},
	}
	for _, s := range seeds {
		f.Add(s.bytes())
	}
	f.Add([]byte{})
	f.Add([]byte("\x7fELF"))
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := ReadBuildID(bytes.NewReader(data))
		if err == nil && id == (BuildID{}) {
			t.Fatal("no error and no build ID")
		}
		if len(id.GNU) > 2*maxGNUBuildID || len(id.Go) > maxGoBuildID {
			t.Fatalf("oversized build ID %+v", id)
		}
	})
}

type countingReaderAt struct {
	r io.ReaderAt
	n int
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += n
	return n, err
}

type errReaderAt struct{ err error }

func (e errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, e.err }

// zeroReaderAt is an endless file of zeros.
type zeroReaderAt struct{}

func (zeroReaderAt) ReadAt(p []byte, _ int64) (int, error) {
	clear(p)
	return len(p), nil
}

// prefixReaderAt serves prefix, then rest.
type prefixReaderAt struct {
	prefix []byte
	rest   io.ReaderAt
}

func (p prefixReaderAt) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(p.prefix)) {
		n = copy(b, p.prefix[off:])
	}
	if n == len(b) {
		return n, nil
	}
	m, err := p.rest.ReadAt(b[n:], off+int64(n))
	return n + m, err
}
