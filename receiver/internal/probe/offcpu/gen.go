// Package offcpu is the off-CPU profiler probe set: sched_switch programs that
// add up, in the kernel, how long each thread was blocked and in which stacks.
package offcpu

//go:generate go tool bpf2go -cc clang-14 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type offcpu_key -type offcpu_stat offcpu ../../../../bpf/offcpu.bpf.c -- -I../../../../bpf
