package procmaps

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrMalformedCgroup is wrapped by ParseCgroupFile errors for input that is
// not in /proc/PID/cgroup format.
var ErrMalformedCgroup = errors.New("malformed cgroup file")

// containerIDLen is the length of the hex IDs used by Docker, containerd,
// CRI-O and Podman.
const containerIDLen = 64

// containerScopePrefixes are the systemd scope name prefixes the runtimes
// use for containers. Conmon scopes ("crio-conmon-<id>", "libpod-conmon-")
// are deliberately absent: conmon is the monitor, not the container.
var containerScopePrefixes = [...]string{"docker-", "cri-containerd-", "crio-", "libpod-"}

// ContainerIDFromCgroup extracts a container ID from a cgroup path, or
// returns "" when the path does not belong to a container. It understands
// the cgroupfs layout (/docker/<id>, /kubepods/burstable/pod<uid>/<id>) and
// the systemd one (/system.slice/docker-<id>.scope,
// /kubepods.slice/.../cri-containerd-<id>.scope). The innermost match wins,
// so nested containers resolve to the inner one.
func ContainerIDFromCgroup(path string) string {
	for path != "" {
		var seg string
		if i := strings.LastIndexByte(path, '/'); i >= 0 {
			seg, path = path[i+1:], path[:i]
		} else {
			seg, path = path, ""
		}
		if id, ok := containerIDFromSegment(seg); ok {
			return id
		}
	}
	return ""
}

func containerIDFromSegment(seg string) (string, bool) {
	if isContainerID(seg) {
		return seg, true
	}
	seg, ok := strings.CutSuffix(seg, ".scope")
	if !ok {
		return "", false
	}
	for _, p := range containerScopePrefixes {
		if id, ok := strings.CutPrefix(seg, p); ok && isContainerID(id) {
			return id, true
		}
	}
	return "", false
}

// isContainerID reports whether s is 64 lowercase hex digits, which is how
// every supported runtime prints IDs; accepting upper case would only add
// false positives.
func isContainerID(s string) bool {
	if len(s) != containerIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ParseCgroupFile returns the cgroup path from the contents of
// /proc/PID/cgroup: the unified hierarchy's path (the "0::/path" line) when
// present, otherwise, on pure cgroup v1 systems, the first line's path.
func ParseCgroupFile(r io.Reader) (unifiedPath string, err error) {
	paths, err := parseCgroupPaths(r)
	if err != nil {
		return "", err
	}
	return paths[0], nil
}

// parseCgroupPaths returns every hierarchy's path, with the unified one, if
// any, moved to the front. The rest serve container detection on hybrid
// systems where only a v1 hierarchy carries the container's path.
func parseCgroupPaths(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxMapsLine)
	var paths []string
	unified := -1
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		// hierarchy-ID:controller-list:path; the path may itself contain ':'.
		id, rest, ok1 := bytes.Cut(line, []byte(":"))
		controllers, path, ok2 := bytes.Cut(rest, []byte(":"))
		if !ok1 || !ok2 || len(id) == 0 {
			return nil, fmt.Errorf("cgroup line %d: %w: %q", lineNo, ErrMalformedCgroup, line)
		}
		if _, ok := parseDec(id); !ok {
			return nil, fmt.Errorf("cgroup line %d: %w: bad hierarchy ID %q", lineNo, ErrMalformedCgroup, id)
		}
		if unified < 0 && string(id) == "0" && len(controllers) == 0 {
			unified = len(paths)
		}
		paths = append(paths, string(path))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading cgroup file: %w", err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no hierarchies", ErrMalformedCgroup)
	}
	if unified > 0 {
		u := paths[unified]
		copy(paths[1:unified+1], paths[:unified])
		paths[0] = u
	}
	return paths, nil
}
