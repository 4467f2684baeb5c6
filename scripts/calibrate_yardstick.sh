#!/bin/sh
# The yardstick's calibration table (docs/yardstick.md): what FD, KID, precision, recall and
# accuracy read for known image sets against the reference statistics of the test split: the
# train split (the floor: different images of the same distribution), test images with
# Gaussian noise (clamped to [-1, 1]), blurred (3x3 box), with one class missing, the class
# means, at N = 1000 and 5000. Prints a Markdown table; every row is one `cdrl eval
# --calibrate WHAT -n N --json`, so any row can be rerun alone.
#   sh scripts/calibrate_yardstick.sh [CLASSIFIER] [THREADS]
set -e
CDRL=${CDRL:-./cdrl}
CLS=${1:-models/fmnist_classifier.safetensors}
THREADS=${2:-2}
echo "| set | N | FD | KID | precision | recall | accuracy |"
echo "|---|---|---|---|---|---|---|"
for n in 1000 5000; do
    for what in train test noise:0.1 noise:0.2 noise:0.3 blur missing:0 means; do
        "$CDRL" eval --calibrate "$what" -n "$n" --classifier "$CLS" --json -t "$THREADS" |
            /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
def f(v, p):
    return "n/a" if v is None else "%.*f" % (p, v)
print("| %s | %s | %s | %s | %s | %s | %s |" % (sys.argv[1], sys.argv[2], f(r["fd"], 2),
      f(r["kid"], 3), f(r["precision"], 3), f(r["recall"], 3), f(r["acc"], 3)))
' "$what" "$n"
    done
done
