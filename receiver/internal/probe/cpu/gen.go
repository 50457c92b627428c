// Package cpu is the on-CPU profiler probe set: a perf_event program sampling
// every online CPU on a software cpu-clock, counting stacks in the kernel.
package cpu

//go:generate go tool bpf2go -cc clang-14 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type cpu_key -type cpu_stat cpu ../../../../bpf/cpu.bpf.c -- -I../../../../bpf
