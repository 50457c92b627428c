// Package procevents loads the process-event programs (exec, fork, exit
// tracepoints) and reads their ring buffer, so the receiver learns of every
// process while it runs, however short its life.
package procevents

//go:generate go tool bpf2go -cc clang-14 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type process_event -type proc_stat -type process_event_type proc ../../../bpf/proc.bpf.c -- -I../../../bpf
