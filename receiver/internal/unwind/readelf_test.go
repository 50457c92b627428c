package unwind

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind/unwindtest"
)

// refRow is one row of `readelf --debug-dump=frames-interp`.
type refRow struct {
	pc       uint64
	cfa      string // "rsp+8", "rbp+16", "exp"
	rbp, ra  string // "u", "c-16", ...
	signal   bool
	fdeStart uint64
	fdeEnd   uint64
}

var regName = regexp.MustCompile(`(r[0-9]+) \([a-z0-9]+\)`)

// readelfRows runs readelf and returns every FDE's rows; an FDE without
// instructions gets its CIE's initial row at its start.
func readelfRows(t *testing.T, path string) []refRow {
	t.Helper()
	out, err := exec.Command("readelf", "--debug-dump=frames-interp", path).Output()
	// readelf 2.40 exits 1 on libc after printing every frame (it finds no
	// separate debug file to follow); the frames are what we compare.
	if err != nil && len(out) == 0 {
		t.Fatalf("readelf %s: %v", path, err)
	}
	type cieInfo struct {
		row    refRow
		signal bool
	}
	cies := map[string]*cieInfo{}
	var rows []refRow
	var cols []string
	var cur *cieInfo // CIE being read
	var fde *refRow  // FDE being read
	var fdeRows int
	flush := func() {
		if fde != nil && fdeRows == 0 {
			r := *fde
			r.pc = fde.fdeStart
			rows = append(rows, r)
		}
		fde, fdeRows = nil, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// "r9 (r9)": a register rule is one column.
		f := strings.Fields(regName.ReplaceAllString(sc.Text(), "$1"))
		switch {
		case len(f) >= 4 && f[3] == "CIE":
			flush()
			cur = &cieInfo{signal: strings.Contains(f[4], "S")}
			cies[f[0]] = cur
		case len(f) >= 6 && f[3] == "FDE":
			flush()
			cur = nil
			c := cies[strings.TrimPrefix(f[4], "cie=")]
			if c == nil {
				t.Fatalf("readelf: fde before its cie: %q", sc.Text())
			}
			rng := strings.Split(strings.TrimPrefix(f[5], "pc="), "..")
			start, _ := strconv.ParseUint(rng[0], 16, 64)
			end, _ := strconv.ParseUint(rng[1], 16, 64)
			r := c.row
			r.signal, r.fdeStart, r.fdeEnd = c.signal, start, end
			fde = &r
		case len(f) >= 2 && f[0] == "LOC":
			cols = f
		case len(f) >= 2 && len(f[0]) == 16 && len(cols) == len(f) && (cur != nil || fde != nil):
			pc, err := strconv.ParseUint(f[0], 16, 64)
			if err != nil {
				continue
			}
			r := refRow{pc: pc, rbp: "u"}
			for i, c := range cols {
				switch c {
				case "CFA":
					r.cfa = f[i]
				case "rbp":
					r.rbp = f[i]
				case "ra":
					r.ra = f[i]
				}
			}
			if cur != nil {
				cur.row = r
				continue
			}
			r.signal, r.fdeStart, r.fdeEnd = fde.signal, fde.fdeStart, fde.fdeEnd
			if r.pc >= r.fdeEnd {
				continue // readelf prints rows past the FDE's range
			}
			rows = append(rows, r)
			fdeRows++
		}
	}
	flush()
	return rows
}

// expect is what our row must say for a readelf row.
func checkRow(ref refRow, got Row) error {
	if ref.signal {
		if got.CFA != CFASignal {
			return fmt.Errorf("signal frame: got %+v", got)
		}
		return nil
	}
	if ref.ra == "u" {
		if got.CFA != CFAEnd {
			return fmt.Errorf("ra undefined: want end, got %+v", got)
		}
		return nil
	}
	if ref.ra != "c-8" {
		if got.CFA != CFAUnsupported {
			return fmt.Errorf("ra %s: want unsupported, got %+v", ref.ra, got)
		}
		return nil
	}
	switch {
	case ref.cfa == "exp":
		if got.CFA != CFAPLT && got.CFA != CFAUnsupported {
			return fmt.Errorf("cfa exp: got %+v", got)
		}
	case strings.HasPrefix(ref.cfa, "rsp+"), strings.HasPrefix(ref.cfa, "rbp+"):
		want := CFARSP
		if ref.cfa[:3] == "rbp" {
			want = CFARBP
		}
		off, _ := strconv.Atoi(ref.cfa[4:])
		if got.CFA != want || int(got.CFAOffset) != off {
			return fmt.Errorf("cfa %s: got %+v", ref.cfa, got)
		}
	default:
		if got.CFA != CFAUnsupported {
			return fmt.Errorf("cfa %s: want unsupported, got %+v", ref.cfa, got)
		}
	}
	switch {
	case ref.rbp == "u":
		if got.RBP != RBPSame {
			return fmt.Errorf("rbp u: got %+v", got)
		}
	case strings.HasPrefix(ref.rbp, "c"):
		off, _ := strconv.Atoi(ref.rbp[1:])
		if got.RBP != RBPAtCFA || int(got.RBPOffset) != off {
			return fmt.Errorf("rbp %s: got %+v", ref.rbp, got)
		}
	default:
		if got.RBP != RBPUndefined {
			return fmt.Errorf("rbp %s: want undefined, got %+v", ref.rbp, got)
		}
	}
	return nil
}

// compareWithReadelf checks the table at the first and last byte of every
// readelf row, skipping addresses covered by more than one FDE.
func compareWithReadelf(t *testing.T, path string) {
	t.Helper()
	tab, err := BuildFile(path, nil)
	if err != nil {
		t.Fatalf("building %s: %v", path, err)
	}
	ref := readelfRows(t, path)
	if len(ref) == 0 {
		t.Fatalf("readelf printed no rows for %s", path)
	}
	// Overlapping FDEs leave the winner unspecified; count cover per FDE.
	type span struct{ start, end uint64 }
	var spans []span
	seen := map[span]bool{}
	for _, r := range ref {
		s := span{r.fdeStart, r.fdeEnd}
		if !seen[s] {
			seen[s] = true
			spans = append(spans, s)
		}
	}
	// FDEs almost never overlap: collect the regions where they do.
	sorted := append([]span(nil), spans...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].start < sorted[j].start })
	var overlaps []span
	var maxEnd uint64
	for _, s := range sorted {
		if s.start < maxEnd {
			overlaps = append(overlaps, span{s.start, min(s.end, maxEnd)})
		}
		maxEnd = max(maxEnd, s.end)
	}
	overlapped := func(pc uint64) bool {
		for _, o := range overlaps {
			if pc >= o.start && pc < o.end {
				return true
			}
		}
		return false
	}
	covered := func(pc uint64) bool {
		i := sort.Search(len(sorted), func(i int) bool { return sorted[i].start > pc })
		for j := i - 1; j >= 0 && j >= i-4; j-- {
			if pc < sorted[j].end {
				return true
			}
		}
		return false
	}
	checked, failed := 0, 0
	for i, r := range ref {
		last := r.fdeEnd - 1
		if i+1 < len(ref) && ref[i+1].fdeStart == r.fdeStart && ref[i+1].pc > r.pc {
			last = ref[i+1].pc - 1
		}
		for _, pc := range []uint64{r.pc, last} {
			if overlapped(pc) {
				continue
			}
			got, ok := tab.Lookup(pc)
			checked++
			if !ok {
				failed++
				t.Errorf("%s %#x: no row", path, pc)
				continue
			}
			if err := checkRow(r, got); err != nil {
				failed++
				if failed < 20 {
					t.Errorf("%s %#x: %v (readelf %+v)", path, pc, err, r)
				}
			}
		}
	}
	// And right after an FDE that no other FDE continues, the table must
	// say there is no CFI.
	for _, s := range spans {
		if covered(s.end) {
			continue
		}
		if got, ok := tab.Lookup(s.end); ok && got.CFA != CFANone {
			t.Errorf("%s %#x: after an FDE, got %+v", path, s.end, got)
			failed++
		}
	}
	t.Logf("%s: %d rows, %d FDEs, %d addresses compared with readelf, %d differ", path, len(tab.Rows), tab.FDEs, checked, failed)
}

func TestTableMatchesReadelf(t *testing.T) {
	files := []string{
		"/usr/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		"/usr/bin/xz",
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("reference file: %v", err)
		}
	}
	progs, err := unwindtest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		files = append(files, p.Files...)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) { compareWithReadelf(t, f) })
	}
}
