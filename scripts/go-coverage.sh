#!/usr/bin/env bash
# Prints statement coverage of our own Go code (generated bindings and mdatagen metadata excluded)
# from a cover profile and fails below the threshold.
set -euo pipefail
profile=$1 min=$2
awk -v min="$min" '
NR == 1 { next }
/_bpfel\.go:|\/gen\/|internal\/metadata(test)?\// { next }
{
	split($1, a, ":"); file = a[1]; key = $1
	stmts = $2; hit = ($3 > 0)
	if (!(key in seen)) { seen[key] = 1; total[file] += stmts; tot += stmts }
	if (hit && !(key in cov)) { cov[key] = 1; covered[file] += stmts; got += stmts }
}
END {
	for (f in total) printf "  %6.1f%%  %s\n", 100 * covered[f] / total[f], f | "sort -k2"
	close("sort -k2")
	pct = tot ? 100 * got / tot : 0
	printf "Go coverage of our code: %.1f%% (minimum %d%%)\n", pct, min
	if (pct < min) exit 1
}' "$profile"
