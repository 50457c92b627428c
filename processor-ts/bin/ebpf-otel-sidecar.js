#!/usr/bin/env node
// The `ebpf-otel-sidecar` command. A committed, executable entry point:
// npm links package bins at install time, before `tsc -b` has written dist/,
// and would leave a compiled dist/main.js without its execute bit.
import '../dist/main.js';
