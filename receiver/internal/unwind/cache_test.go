package unwind

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ebpf-otel/ebpf-otel/receiver/internal/unwind/unwindtest"
)

func TestCacheBudgetAndEvictions(t *testing.T) {
	progs, err := unwindtest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	libc := "/usr/lib/x86_64-linux-gnu/libc.so.6"
	libcTable, err := BuildFile(libc, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Room for libc and a little more: every small program fits beside
	// it, a second large file evicts it.
	budget := int64(libcTable.Bytes()) + 4096
	c := NewCache(budget, nil)
	var evicted []FileKey
	c.OnEvict = func(k FileKey, _ *Table) { evicted = append(evicted, k) }

	if _, err := c.Get(FileKey{Inode: 1}, libc); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(FileKey{Inode: 1}, "/nonexistent: a hit never reads the path"); err != nil {
		t.Fatal(err)
	}
	for i, p := range progs {
		if _, err := c.Get(FileKey{Inode: uint64(10 + i)}, p.Path); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
	}
	s := c.Stats()
	if s.Hits != 1 || s.Builds != uint64(1+len(progs)) || s.Bytes > budget {
		t.Fatalf("stats %+v, budget %d", s, budget)
	}
	if _, err := c.Get(FileKey{BuildID: "libc under another key"}, libc); err != nil {
		t.Fatal(err)
	}
	s = c.Stats()
	if s.Bytes > budget || s.Evictions == 0 || len(evicted) != int(s.Evictions) {
		t.Fatalf("after a large file: stats %+v, evicted %v, budget %d", s, evicted, budget)
	}
	if evicted[0] != (FileKey{Inode: 1}) {
		t.Fatalf("least recently used first out: evicted %v", evicted)
	}
}

func TestCacheRemembersFailures(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "not-elf")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := NewCache(1<<20, nil)
	for range 3 {
		if _, err := c.Get(FileKey{Inode: 7}, bad); err == nil {
			t.Fatal("want an error for a non-ELF file")
		}
	}
	if s := c.Stats(); s.Errors != 1 || s.Hits != 2 {
		t.Fatalf("failure parsed once: %+v", s)
	}
	// Failures are evicted like tables, and reported, so what names
	// them (the unwinder's aliases) goes too: none of it is unbounded.
	small := NewCache(3*failedEntryBytes, nil)
	var gone []FileKey
	small.OnEvict = func(k FileKey, tb *Table) {
		if tb != nil {
			t.Errorf("%v: a failure evicted with a table", k)
		}
		gone = append(gone, k)
	}
	for i := range 5 {
		if _, err := small.Get(FileKey{BuildID: fmt.Sprint("bad", i)}, bad); err == nil {
			t.Fatal("want an error for a non-ELF file")
		}
	}
	if s := small.Stats(); s.Tables != 3 || s.Bytes != 3*failedEntryBytes || s.Evictions != 0 {
		t.Fatalf("remembered failures within the budget: %+v", s)
	}
	if len(gone) != 2 || gone[0] != (FileKey{BuildID: "bad0"}) || gone[1] != (FileKey{BuildID: "bad1"}) {
		t.Fatalf("evicted failures reported oldest first: %v", gone)
	}
	// A file without any CFI is not an error: frame pointers are used.
	tiny := NewCache(16, nil)
	if _, err := tiny.Get(FileKey{Inode: 8}, "/usr/lib/x86_64-linux-gnu/libc.so.6"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("table over the whole budget: got %v", err)
	}
	if s := tiny.Stats(); s.TooLarge != 1 || s.Bytes > 64 {
		t.Fatalf("too large: %+v", s)
	}
}
