#!/usr/bin/env bash
# Writes deploy/kubernetes/seccomp/otelcol-ebpf.json, the collector
# container's Localhost seccomp profile: the container runtime's default
# profile (containers-common's seccomp.json, what podman and CRI-O apply as
# RuntimeDefault) resolved for the collector's capability set, plus bpf()
# and perf_event_open(), which the default allows only with SYS_ADMIN.
#
# The default profile's conditional rules ("includes"/"excludes" on
# capabilities and architectures) are a containers-common and Docker
# extension; containerd reads a Localhost profile as a plain OCI seccomp
# object and would ignore those conditions. So the rules are resolved here,
# once, for the capabilities the DaemonSet grants and for amd64 and arm64:
# what comes out is plain OCI JSON that every runtime reads the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC="${1:-/usr/share/containers/seccomp.json}"
OUT=deploy/kubernetes/seccomp/otelcol-ebpf.json
# The collector container's capabilities (deploy/kubernetes/daemonset.yaml).
CAPS='["CAP_BPF","CAP_PERFMON","CAP_SYS_PTRACE","CAP_DAC_READ_SEARCH","CAP_SYSLOG"]'
ARCHES='["amd64","arm64"]'
jq --argjson caps "$CAPS" --argjson arches "$ARCHES" '
  def has_all($xs; $set): all($xs[]; . as $x | $set | index($x));
  def has_any($xs; $set): any($xs[]; . as $x | $set | index($x));
  def applies:
    ((.includes.caps // []) as $c | has_all($c; $caps))
    and ((.excludes.caps // []) as $c | has_any($c; $caps) | not)
    and ((.includes.arches // []) as $a | ($a | length) == 0 or has_any($a; $arches))
    and ((.excludes.arches // []) as $a | has_all($arches; $a) | not);
  ["bpf", "perf_event_open"] as $ours
  # The default both allows some syscalls in its long list and denies them
  # to a container without the capability (setns, chroot, ...): the denial
  # is the intent, and a name in two rules of different actions is an
  # error for some runtimes, so it leaves the allow rule.
  | ([.syscalls[] | select(applies and .action != "SCMP_ACT_ALLOW" and ((.args // []) | length) == 0)
      | .names[]] - $ours) as $denied
  | {
      defaultAction: .defaultAction,
      defaultErrnoRet: .defaultErrnoRet,
      architectures: [.archMap[] | select(.architecture == "SCMP_ARCH_X86_64" or .architecture == "SCMP_ARCH_AARCH64")
                      | .architecture, .subArchitectures[]],
      syscalls: (
        [.syscalls[] | select(applies)
         | .names -= (if .action != "SCMP_ACT_ALLOW" then $ours
                      elif ((.args // []) | length) == 0 then $denied else [] end)
         | select(.names | length > 0)
         | {names, action}
           + (if (.args // []) | length > 0 then {args} else {} end)
           + (if .errnoRet then {errnoRet} else {} end)]
        + [{names: $ours, action: "SCMP_ACT_ALLOW"}]
      )
    }' "$SRC" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT from $SRC"
