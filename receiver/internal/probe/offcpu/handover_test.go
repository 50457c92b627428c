//go:build linux

package offcpu

import (
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ebpf-otel/ebpf-otel/internal/testenv"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/probe/syscalls"
	"github.com/ebpf-otel/ebpf-otel/receiver/internal/profbuild"
)

// TestSyscallExitHandOver starts both sets from one Env, as the receiver
// does: the syscalls set's sys_exit then runs the deferral (a tail call),
// and offcpu_sys_exit no longer runs from the tracepoint itself: one
// program per syscall. TestDeferredBlocksExact checks what it counts.
func TestSyscallExitHandOver(t *testing.T) {
	requirePrivileges(t)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	require.NoError(t, err)
	defer stats.Close()
	env := probe.Env{SyscallExit: &probe.SyscallExit{},
		NewBuilder: func(profbuild.ProfileType) *profbuild.Builder { return nil }}
	off, err := NewSet(env, Config{MinBlock: time.Millisecond, KernelStacks: true, UserStacks: true,
		StackEntries: 1024, CountEntries: 1024, ThreadEntries: 1024})
	require.NoError(t, err)
	defer off.Close()
	if env.SyscallExit.Programs == nil {
		testenv.Skip(t, "deferral needs tp_btf and task storage")
	}
	// Our own handle: the set closes its own at Close.
	hooks, err := env.SyscallExit.Programs.Clone()
	require.NoError(t, err)
	defer hooks.Close()
	var id uint32
	require.NoError(t, hooks.Lookup(uint32(0), &id))
	deferral, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	require.NoError(t, err)
	defer deferral.Close()
	runs := func() uint64 {
		st, err := deferral.Stats()
		require.NoError(t, err)
		return st.RunCount
	}
	syscallsMade := func() {
		for range 1000 {
			unix.Getppid()
		}
	}
	before := runs()
	syscallsMade()
	assert.Greater(t, runs(), before+999, "attached on its own before the syscalls set starts")

	sc, err := syscalls.NewSet(env, syscalls.Config{})
	require.NoError(t, err)
	defer sc.Close()
	before = runs()
	syscallsMade()
	assert.Equal(t, before, runs(), "called only from the syscalls set's sys_exit")

	// Closed first, the off-CPU set empties the slot; the syscalls set
	// goes on alone.
	require.NoError(t, off.Close())
	var none uint32
	assert.ErrorIs(t, hooks.Lookup(uint32(0), &none), ebpf.ErrKeyNotExist)
	syscallsMade()
	require.NoError(t, sc.Close())
}
