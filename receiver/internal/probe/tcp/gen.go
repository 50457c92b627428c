// Package tcp is the TCP and network probe set: BTF tracepoints on socket
// state changes, retransmits, resets and skb drops count connections, bytes,
// durations and drops in the kernel; Collect turns them into cumulative
// OpenTelemetry metrics and, optionally, one log record per closed
// connection.
package tcp

//go:generate go tool bpf2go -cc clang-14 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type conn_key -type tcp_val -type tcp_event -type tcp_stat -type tcp_dir tcp ../../../../bpf/tcp.bpf.c -- -I../../../../bpf
