#!/bin/sh
# Long fuzzing counted in CPU time: runs each named harness (build/fuzz/fuzz_NAME, `make
# fuzz-build`) on its corpus until the process has used CPU_SECONDS of processor time, then stops
# it with SIGINT (libFuzzer prints its final statistics and keeps the corpus). Wall time is not
# the measure because the campaign runs at idle priority beside other work: it takes only what
# the machine leaves. One line per harness run goes to build/fuzz/campaign.tsv (docs/reliability.md),
# and CPU_SECONDS is each harness's total over that file: SIGTERM to the script stops the running
# harness, records its line and exits, and the same command later goes on where it stopped.
#
#   sh scripts/fuzz_campaign.sh CPU_SECONDS NAME...
#
# The per-input timeout is 120 s of wall time, not `make fuzz`'s 20 s, so that an input that
# waits for the processor at idle priority is not taken for a hang.
set -u
[ $# -ge 2 ] || { echo "usage: sh scripts/fuzz_campaign.sh CPU_SECONDS NAME..." >&2; exit 2; }
budget=$1; shift
case $budget in '' | *[!0-9]*) echo "fuzz_campaign: CPU_SECONDS must be a whole number, not '$budget'" >&2; exit 2 ;; esac
tick=$(getconf CLK_TCK)
idle=""
chrt --idle 0 true 2>/dev/null && idle="chrt --idle 0"
status=0
pid=""
stopping=0
trap 'stopping=1; [ -n "$pid" ] && kill -INT $pid 2>/dev/null' TERM INT
for name in "$@"; do
	[ $stopping -eq 1 ] && break
	done_before=$(awk -F'\t' -v n="$name" '$1 == n { s += $3 } END { print s + 0 }' build/fuzz/campaign.tsv 2>/dev/null || echo 0)
	left=$((budget - done_before))
	[ $left -gt 0 ] || continue
	bin=build/fuzz/fuzz_$name
	[ -x "$bin" ] || { echo "fuzz_campaign: $bin not built (make fuzz-build)" >&2; exit 2; }
	mkdir -p build/fuzz/corpus/$name
	log=build/fuzz/$name.campaign.$(date -u +%Y%m%dT%H%M%S).log
	start=$(date +%s)
	$idle $bin -rss_limit_mb=2048 -timeout=120 -print_final_stats=1 \
		-artifact_prefix=build/fuzz/crash-$name- build/fuzz/corpus/$name tests/corpus/$name >"$log" 2>&1 &
	pid=$!
	cpu=0
	while :; do
		# fields 3, 14 and 15 of /proc/PID/stat: the state (Z once it has exited) and the user and
		# system time of all the process's threads
		stat=$(cat /proc/$pid/stat 2>/dev/null) || break
		set -- $stat
		[ "$3" = Z ] && break
		cpu=$(((${14} + ${15}) / tick))
		[ $cpu -ge $left ] && { kill -INT $pid; break; }
		sleep 5
	done
	wait $pid
	rc=$?
	# a trap interrupts wait: wait again for the harness's own exit status
	[ $rc -gt 128 ] && [ -e /proc/$pid ] && { wait $pid; rc=$?; }
	wall=$(($(date +%s) - start))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+ corp: [0-9]+" "$log" | tail -1 | awk '{ print $2 "\t" $4 "\t" $6 }')
	result=clean
	# 72 is libFuzzer's exit code after SIGINT; anything else but 0 means it found something
	if [ $rc -ne 0 ] && [ $rc -ne 72 ]; then
		result="FOUND (exit $rc, see $log)"
		status=1
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$(date -u +%FT%TZ)" "$cpu" "$wall" "${runs:-?}" "${cov:-?}" "$result" |
		tee -a build/fuzz/campaign.tsv
done
exit $status
