#!/bin/sh
# Include rules of the source tree (README "Layout"): each directory of src/ may include its own
# headers and those of the layers below it, never above; the program (src/cli) uses the public
# API alone (include/cdrl.h). Then the rules of the backend seam (below). Prints every violation as file:line and exits 1 when there is one.
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

# The backend seam (ops/backend.h): threads live in the cpu backend alone (and core's thread
# settings); the reference backend stays plain loops; networks, trainer and sampler fill and
# copy tensors through the backend's ops, never with memset/memcpy.
for f in $(find src -name '*.[ch]' | sort); do
    case "$f" in
    src/ops/cpu/* | src/core/*) ;;
    *) grep -n '#pragma omp\|#include <omp.h>' "$f" | sed "s|^|$f:|; s|\$|  (OpenMP outside the cpu backend)|" ;;
    esac
    case "$f" in
    src/ops/ref/*) grep -n 'cdrl_sgemm\|dnnl\|ops/cpu/' "$f" | sed "s|^|$f:|; s|\$|  (the ref backend uses no library kernel)|" ;;
    src/models/* | src/train/* | src/sampler/*)
        grep -n 'mem\(set\|cpy\|move\)(.*sizeof(float)' "$f" |
            sed "s|^|$f:|; s|\$|  (tensor memory through cdrl_zero/cdrl_copy)|"
        ;;
    esac
done >>build/lint.out 2>&1
if [ -s build/lint.out ]; then
    cat build/lint.out
    echo "lint: $(wc -l <build/lint.out) include or backend rule violations"
    exit 1
fi
echo "lint: include rules and the backend seam hold"
