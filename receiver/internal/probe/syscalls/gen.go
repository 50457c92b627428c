// Package syscalls is the syscall probe set: raw tracepoints on sys_enter and
// sys_exit count calls, errors by errno and a log2 latency histogram per
// process and syscall in the kernel; Collect turns them into cumulative
// OpenTelemetry metrics.
package syscalls

//go:generate go tool bpf2go -cc clang-14 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type sys_key -type sys_hist -type sys_hist_long -type sys_slot -type sys_err_key -type sys_stat syscalls ../../../../bpf/syscalls.bpf.c -- -I../../../../bpf
