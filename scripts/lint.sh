#!/bin/sh
# Include rules of the source tree (README "Layout"): each directory of src/ may include its own
# headers and those of the layers below it, never above; the program (src/cli) uses the public
# API alone (include/cdrl.h). Prints every violation as file:line and exits 1 when there is one.
set -u
cd "$(dirname "$0")/.."

layer() {
    case "$1" in
    core) echo 0 ;;
    io | ops | diffusion) echo 1 ;;
    data | nn) echo 2 ;;
    models) echo 3 ;;
    sampler) echo 4 ;;
    train) echo 5 ;;
    eval) echo 6 ;;
    api) echo 7 ;;
    cli) echo 8 ;;
    *) echo 99 ;;
    esac
}

bad=0
for f in $(find src -name '*.[ch]' | sort); do
    dir=$(echo "$f" | cut -d/ -f2)
    mine=$(layer "$dir")
    grep -n '^#include "' "$f" | while IFS= read -r line; do
        n=${line%%:*}
        inc=$(echo "$line" | sed 's/^[0-9]*:#include "\([^"]*\)".*/\1/')
        case "$inc" in
        cdrl.h) continue ;;
        */*) ;;
        *) echo "$f:$n: includes \"$inc\" (headers are named by their directory)"; continue ;;
        esac
        to=${inc%%/*}
        if [ "$dir" = cli ] && [ "$to" != cli ]; then
            echo "$f:$n: the program includes \"$inc\"; it uses include/cdrl.h alone"
        elif [ "$to" != "$dir" ] && [ "$(layer "$to")" -ge "$mine" ]; then
            echo "$f:$n: $dir/ includes \"$inc\" from a layer at or above its own"
        fi
    done
done >build/lint.out 2>&1
if [ -s build/lint.out ]; then
    cat build/lint.out
    echo "lint: $(wc -l <build/lint.out) include rule violations"
    exit 1
fi
echo "lint: include rules hold"
