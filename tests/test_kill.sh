#!/bin/sh
# scripts/kill_test.sh, short: 5 SIGKILLs and 5 SIGTERMs at random moments of a 2-D run that
# saves every step, each followed by --resume; the checkpoint always loads, SIGTERM exits 130
# after saving, and the finished run equals an uninterrupted one byte for byte.
CDRL=${CDRL:-./cdrl}
T=${CLI_TEST_DIR:-build/cli-test}
echo "kill and resume"
rc=0
for sig in KILL TERM; do
    out=$(ITERS=150 CDRL="$CDRL" KILL_TEST_DIR="$T/kill-$sig" sh scripts/kill_test.sh 5 $sig 2>&1)
    status=$?
    echo "$out" | tail -2 | sed 's/^/  /'
    [ $status -eq 0 ] || { echo "$out" | sed 's/^/    /'; rc=1; }
done
exit $rc
