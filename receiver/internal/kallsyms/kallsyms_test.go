// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package kallsyms

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `ffffffff81000000 T _stext
ffffffff81000010 t __pfx___schedule
ffffffff81000020 t __schedule
ffffffff81000020 t __schedule_alias
ffffffff81000400 T schedule
ffffffff81000500 T _etext
ffffffffc0000000 t mod_func	[mod]
`

func TestFindRanges(t *testing.T) {
	got, err := find(strings.NewReader(sample), []string{"__schedule", "schedule", "_etext", "absent", "mod_func"})
	require.NoError(t, err)
	assert.Equal(t, map[string]Range{
		// The alias at the same address does not end it.
		"__schedule": {0xffffffff81000020, 0xffffffff81000400},
		"schedule":   {0xffffffff81000400, 0xffffffff81000500},
		// The image's last symbol cannot be bounded.
		"_etext": {0xffffffff81000500, 0xffffffff81000500},
	}, got)
	assert.True(t, got["__schedule"].Contains(0xffffffff810003ff))
	assert.False(t, got["__schedule"].Contains(0xffffffff81000400))
}

func TestFindHiddenAddresses(t *testing.T) {
	hidden := regexp.MustCompile(`(?m)^[0-9a-f]{16}`).ReplaceAllString(sample, "0000000000000000")
	_, err := find(strings.NewReader(hidden), []string{"__schedule"})
	assert.True(t, errors.Is(err, ErrHidden), "%v", err)
}

func TestFindBadInput(t *testing.T) {
	_, err := find(strings.NewReader("zzzz T x\n"), []string{"x"})
	assert.ErrorContains(t, err, "bad address")
	_, err = Find(filepath.Join(t.TempDir(), "missing"), "x")
	assert.ErrorContains(t, err, "opening kernel symbols")
	// Lines without three fields are skipped.
	got, err := find(strings.NewReader("garbage\nffffffff81000000\nffffffff81000000 T x\nffffffff81000010 T y\n"), []string{"x"})
	require.NoError(t, err)
	assert.Equal(t, Range{0xffffffff81000000, 0xffffffff81000010}, got["x"])
}

func TestFindRunningKernel(t *testing.T) {
	if _, err := os.Stat(DefaultPath); err != nil {
		t.Skip("no /proc/kallsyms")
	}
	got, err := Find(DefaultPath, "__schedule", "_stext")
	if errors.Is(err, ErrHidden) {
		t.Skip("kernel addresses hidden from this process")
	}
	require.NoError(t, err)
	require.Contains(t, got, "__schedule")
	s := got["__schedule"]
	assert.Greater(t, s.End, s.Start)
	assert.Less(t, s.End-s.Start, uint64(1<<16), "__schedule is one function, not the rest of the image")
}

// BenchmarkFindRunningKernel is the start-up cost of one lookup.
func BenchmarkFindRunningKernel(b *testing.B) {
	if _, err := Find(DefaultPath, "__schedule"); err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		if _, err := Find(DefaultPath, "__schedule"); err != nil {
			b.Fatal(err)
		}
	}
}
