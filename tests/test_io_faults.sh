#!/bin/sh
# Full disks and I/O errors while training saves (docs/reliability.md): a 10-step run resumed
# to 20 with a fault injected into its checkpoint writes by tests/fault_shim.c (LD_PRELOAD):
# writes failing with ENOSPC, fsync failing, rename failing; and the file-size limit of
# `ulimit -f`. Each must end with exit 1 and one line naming the file and the reason, the step-10
# checkpoint intact (it loads, at step 10) and no .tmp left behind. Writes only under
# $CLI_TEST_DIR/iofault.
CDRL=${CDRL:-./cdrl}
T=${CLI_TEST_DIR:-build/cli-test}/iofault
SHIM=$(cd "$(dirname "$CDRL")" && pwd)/tests/libfault_shim.so
checks=0
failed=0
rm -rf "$T"
mkdir -p "$T"
. tests/cli_util.sh
# The sanitizer runtime must come first among the libraries; the shim is preloaded before it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

echo "io faults"
ARGS="--data checkerboard --preset demo --no-eval -t 1 --ckpt-every 5 --batch 64"
run 0 "10 steps, checkpoint at step 10" "$CDRL" train $ARGS --iters 10 --out "$T/base"

# intact RUN: the checkpoint loads, holds step 10, and no .tmp is left
intact() {
    "$CDRL" info "$1" 2>/dev/null | grep -q "^step  *10$" && [ ! -e "$1/model.safetensors.tmp" ]
    ok $? "the step-10 checkpoint is intact, no .tmp left"
}

for fault in write:4096 fsync rename; do
    rm -rf "$T/f"
    cp -r "$T/base" "$T/f"
    run 1 "resume with $fault failing" env CDRL_FAULT=$fault CDRL_FAULT_FILE=model.safetensors \
        LD_PRELOAD="$SHIM" \
        "$CDRL" train $ARGS --iters 20 --resume --out "$T/f"
    case $fault in
    write*) why="No space left on device" ;;
    *) why="Input/output error" ;;
    esac
    one_line "model.safetensors"
    grep -q "$why" "$T/err"
    ok $? "the reason: $why"
    intact "$T/f"
done

rm -rf "$T/f"
cp -r "$T/base" "$T/f"
# a file-size limit of 64 blocks (32 KiB); SIGXFSZ ignored, so that writes fail with EFBIG
run 1 "resume under ulimit -f 64" sh -c "trap '' XFSZ; ulimit -f 64; exec \"\$0\" \"\$@\"" \
    "$CDRL" train $ARGS --iters 20 --resume --out "$T/f"
one_line "File too large"
intact "$T/f"

echo "test_io_faults: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
