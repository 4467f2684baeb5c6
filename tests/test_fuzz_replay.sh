#!/bin/sh
# Every input of tests/corpus/NAME (the seeds of fuzz/make_seeds.c and each input a fuzz run
# once failed on, kept as regress-*) through the harness fuzz/fuzz_NAME.c, built without
# libFuzzer as replay_NAME (under ASan and UBSan in make sanitize): none may crash.
CDRL=${CDRL:-./cdrl}
DIR=$(dirname "$CDRL")/tests
checks=0
failed=0
echo "fuzz replay"
for h in fuzz/fuzz_*.c; do
    name=${h#fuzz/fuzz_}
    name=${name%.c}
    checks=$((checks + 1))
    n=$(ls tests/corpus/"$name" | wc -l)
    if "$DIR/replay_$name" tests/corpus/"$name"/* >/dev/null 2>"$DIR/replay_$name.err"; then
        echo "  ok   $name: $n inputs"
    else
        failed=$((failed + 1))
        echo "  FAIL $name"
        tail -5 "$DIR/replay_$name.err" | sed 's/^/       /'
    fi
done
echo "test_fuzz_replay: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
