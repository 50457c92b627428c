package procmaps

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrMalformedMaps is wrapped by every error ParseMaps returns for input that
// is not in /proc/PID/maps format.
var ErrMalformedMaps = errors.New("malformed maps line")

// maxMapsLine bounds one line of /proc/PID/maps. The kernel escapes newlines
// in paths and PATH_MAX is 4096, so real lines are far shorter; the bound only
// keeps garbage input from growing the buffer without limit.
const maxMapsLine = 64 * 1024

const deletedSuffix = " (deleted)"

// ParseMaps parses the contents of /proc/PID/maps. Mappings are returned in
// input order, which for the kernel's output is ascending by address. Errors
// for malformed lines name the 1-based line number and wrap ErrMalformedMaps.
func ParseMaps(r io.Reader) ([]Mapping, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxMapsLine)

	var (
		out      []Mapping
		lineNo   int
		prevPath string
	)
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		m, path, err := parseMapsLine(line)
		if err != nil {
			return nil, fmt.Errorf("maps line %d: %w: %s", lineNo, ErrMalformedMaps, err)
		}
		// A library is usually mapped several times in a row (text, rodata,
		// data, relro); reuse the previous string rather than allocating again.
		if string(path) == prevPath {
			m.Path = prevPath
		} else {
			m.Path = internSpecial(path)
			prevPath = m.Path
		}
		m.Kind = kindOf(m.Path)
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("maps line %d: %w: line longer than %d bytes", lineNo+1, ErrMalformedMaps, maxMapsLine)
		}
		return nil, fmt.Errorf("reading maps after line %d: %w", lineNo, err)
	}
	return out, nil
}

// parseMapsLine decodes the fixed fields of one line. The path is returned
// as a sub-slice of line (with any " (deleted)" suffix removed) so the caller
// decides whether to allocate.
func parseMapsLine(line []byte) (m Mapping, path []byte, err error) {
	rest := line

	var field []byte
	field, rest = nextField(rest)
	dash := bytes.IndexByte(field, '-')
	if dash < 0 {
		return m, nil, fmt.Errorf("address range %q has no '-'", field)
	}
	var ok bool
	if m.Start, ok = parseHex(field[:dash]); !ok {
		return m, nil, fmt.Errorf("bad start address %q", field[:dash])
	}
	if m.Limit, ok = parseHex(field[dash+1:]); !ok {
		return m, nil, fmt.Errorf("bad end address %q", field[dash+1:])
	}
	if m.Limit <= m.Start {
		return m, nil, fmt.Errorf("empty address range %q", field)
	}

	field, rest = nextField(rest)
	if m.Perms, ok = internPerms(field); !ok {
		return m, nil, fmt.Errorf("bad permissions %q", field)
	}

	field, rest = nextField(rest)
	if m.Offset, ok = parseHex(field); !ok {
		return m, nil, fmt.Errorf("bad offset %q", field)
	}

	field, rest = nextField(rest)
	colon := bytes.IndexByte(field, ':')
	if colon < 0 {
		return m, nil, fmt.Errorf("device %q has no ':'", field)
	}
	major, ok1 := parseHex(field[:colon])
	minor, ok2 := parseHex(field[colon+1:])
	if !ok1 || !ok2 || major > 0xffffffff || minor > 0xffffffff {
		return m, nil, fmt.Errorf("bad device %q", field)
	}
	m.Major, m.Minor = uint32(major), uint32(minor)

	field, rest = nextField(rest)
	if m.Inode, ok = parseDec(field); !ok {
		return m, nil, fmt.Errorf("bad inode %q", field)
	}

	// The kernel pads the path column with spaces; everything after the
	// padding is the path, spaces included.
	path = bytes.TrimLeft(rest, " \t")
	if trimmed, found := bytes.CutSuffix(path, []byte(deletedSuffix)); found {
		path = trimmed
		m.Deleted = true
	}
	return m, path, nil
}

// nextField skips leading spaces and returns the bytes up to the next space
// and the remainder after it.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	b = b[i:]
	if j := bytes.IndexByte(b, ' '); j >= 0 {
		return b[:j], b[j:]
	}
	return b, nil
}

// parseHex parses an unsigned hexadecimal number without allocating, which
// strconv.ParseUint would do for the []byte to string conversion.
func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// parseDec parses an unsigned decimal number without allocating.
func parseDec(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// internPerms validates a permission field and returns a constant string for
// it, so no line allocates for its permissions.
func internPerms(b []byte) (string, bool) {
	if len(b) != 4 {
		return "", false
	}
	idx := 0
	for i, want := range [3]byte{'r', 'w', 'x'} {
		switch b[i] {
		case want:
			idx |= 1 << (2 - i)
		case '-':
		default:
			return "", false
		}
	}
	switch b[3] {
	case 'p':
	case 's':
		idx |= 8
	default:
		return "", false
	}
	return permStrings[idx], true
}

var permStrings = [16]string{
	"---p", "--xp", "-w-p", "-wxp", "r--p", "r-xp", "rw-p", "rwxp",
	"---s", "--xs", "-w-s", "-wxs", "r--s", "r-xs", "rw-s", "rwxs",
}

// commonSpecial are the kernel names seen in almost every process.
var commonSpecial = [...]string{"[heap]", "[stack]", "[vdso]", "[vvar]", "[vsyscall]", "[vvar_vclock]"}

func internSpecial(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if b[0] == '[' {
		for _, s := range commonSpecial {
			if string(b) == s {
				return s
			}
		}
	}
	return string(b)
}

// kindOf classifies a mapping by its path. File paths are always absolute,
// so a bracketed name can only be one the kernel made up ([heap], [anon:x]).
func kindOf(path string) Kind {
	switch {
	case path == "":
		return KindAnonymous
	case len(path) >= 2 && path[0] == '[' && path[len(path)-1] == ']':
		return KindSpecial
	default:
		return KindFile
	}
}
