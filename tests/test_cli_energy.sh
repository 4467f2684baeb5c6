#!/bin/sh
# `cdrl energy` end to end: a toy model (3 training steps) and an untrained tiny-image model
# with PNGs and tensors made by the helper build/tests/test_energy; JSON that parses with the
# right counts, safetensors output with the right shapes, --grad finite and shaped as the
# input, PNGs giving the same energies as the same images as a tensor, a weights-only file
# (the official checkpoints' converted form) the same as its checkpoint, and f and df/dx equal to
# cdrl_model_log_density x h_j (checked by the helper). Failures: a wrong-size or wrong-colour
# PNG, a missing file, a level past T (one line each), unknown flags (exit 2). Not checked: the
# energies' values (test_energy and the network tests). Writes only under $CLI_TEST_DIR/energy.
CDRL=${CDRL:-./cdrl}
T=${CLI_TEST_DIR:-build/cli-test}/energy
HELPER=$(dirname "$CDRL")/tests/test_energy
[ -x "$HELPER" ] || HELPER=build/tests/test_energy
checks=0
failed=0

rm -rf "$T"
mkdir -p "$T"

. tests/cli_util.sh

PY=
command -v python3 >/dev/null 2>&1 && PY=python3

# Shapes of the tensors of a safetensors file, "name:d0xd1..." sorted, from its JSON header.
shapes() {
    $PY -c 'import json,struct,sys
b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; h=json.loads(b[8:8+n])
print(" ".join(sorted(k+":"+"x".join(map(str,v["shape"])) for k,v in h.items() if k!="__metadata__")))' "$1"
}

echo "cli energy"
"$HELPER" inputs "$T" >"$T/out" 2>"$T/err"
ok $? "helper wrote the models and inputs"

# ---------------------------------------------------------------------------------------
# Toy model, points as a tensor
run 0 "toy --json" "$CDRL" energy --model "$T/toy.safetensors" --tensor "$T/p.safetensors" --json -t 1
if [ -n "$PY" ]; then
    $PY -c 'import json,sys,math; d=json.load(open(sys.argv[1]))
assert d["n"]==5 and d["shape"]==[5,2] and d["level"]==1 and d["ema"] is True and d["h"]>0
assert len(d["f"])==5 and all(math.isfinite(v) for v in d["f"])
assert all(abs(l*d["h"]-f)<=1e-5*abs(f)+1e-6 for f,l in zip(d["f"],d["log_density"]))
assert "dfdx" not in d' "$T/out"
    ok $? "toy JSON: 5 finite energies, log_density = f / h"
fi
run 0 "toy --grad -o, level 3, --no-ema" "$CDRL" energy -m "$T/toy.safetensors" \
    --tensor "$T/p.safetensors:x" -l 3 --grad --no-ema -o "$T/toy_e.safetensors" -t 1
[ -n "$PY" ] && { [ "$(shapes "$T/toy_e.safetensors")" = "dfdx:5x2 f:5" ]; ok $? "toy output shapes f (5), dfdx (5, 2)"; }
"$HELPER" compare "$T/toy.safetensors" "$T/p.safetensors" "$T/toy_e.safetensors" 3 0 >"$T/cmp" 2>&1
ok $? "toy f and dfdx = log density x h_3 (trained weights): $(grep -c '  ok' "$T/cmp") checks"
run 0 "toy, EMA" "$CDRL" energy -m "$T/toy.safetensors" --tensor "$T/p.safetensors" --grad -o "$T/toy_ema.safetensors"
"$HELPER" compare "$T/toy.safetensors" "$T/p.safetensors" "$T/toy_ema.safetensors" 1 1 >"$T/cmp" 2>&1
ok $? "toy f and dfdx = log density x h_1 (EMA)"
run 1 "toy with --png" "$CDRL" energy -m "$T/toy.safetensors" --png "$T/a.png"
one_line "give its points with --tensor"

# ---------------------------------------------------------------------------------------
# Image model: PNGs and the same images as a tensor
run 0 "image --png --grad --json" "$CDRL" energy -m "$T/img.safetensors" --png "$T/a.png" "$T/b.png" "$T/c.png" --grad --json -l 2
cp "$T/out" "$T/png.json"
if [ -n "$PY" ]; then
    $PY -c 'import json,sys,math; d=json.load(open(sys.argv[1]))
assert d["n"]==3 and d["shape"]==[3,1,8,8] and len(d["inputs"])==3 and len(d["f"])==3
assert len(d["dfdx"])==3 and all(len(r)==64 for r in d["dfdx"])
assert all(math.isfinite(v) for r in d["dfdx"] for v in r) and any(v!=0 for r in d["dfdx"] for v in r)' "$T/out"
    ok $? "image JSON: 3 energies, finite non-zero dfdx of 64 values each"
fi
run 0 "image --tensor (the same images)" "$CDRL" energy -m "$T/img.safetensors" --tensor "$T/abc.safetensors" --grad --json -l 2
if [ -n "$PY" ]; then
    $PY -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
assert a["f"]==b["f"] and a["dfdx"]==b["dfdx"]' "$T/png.json" "$T/out"
    ok $? "PNGs and the tensor of the same images give the same f and dfdx"
fi
run 0 "image -o --grad" "$CDRL" energy -m "$T/img.safetensors" --png="$T/a.png" --png "$T/b.png" "$T/c.png" -g -l 2 -o "$T/img_e.safetensors"
[ -n "$PY" ] && { [ "$(shapes "$T/img_e.safetensors")" = "dfdx:3x1x8x8 f:3" ]; ok $? "image output shapes f (3), dfdx (3, 1, 8, 8)"; }
"$HELPER" compare "$T/img.safetensors" "$T/abc.safetensors" "$T/img_e.safetensors" 2 1 >"$T/cmp" 2>&1
ok $? "image f and dfdx = log density x h_2"
# the same network as a weights-only file (what tools/convert_official.py writes)
run 0 "image, weights-only file" "$CDRL" energy -m "$T/img_weights.safetensors" --tensor "$T/abc.safetensors" --grad --json -l 2
if [ -n "$PY" ]; then
    $PY -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
assert a["f"]==b["f"] and a["dfdx"]==b["dfdx"]' "$T/png.json" "$T/out"
    ok $? "the weights-only file gives the checkpoint's f and dfdx"
fi

# ---------------------------------------------------------------------------------------
# Failures
run 1 "wrong-size PNG" "$CDRL" energy -m "$T/img.safetensors" --png "$T/a.png" "$T/big.png"
one_line "big.png: 10x10 grey image, the model takes 8x8 grey"
run 1 "wrong-colour PNG" "$CDRL" energy -m "$T/img.safetensors" --png "$T/rgb.png"
one_line "rgb.png: 8x8 colour image"
run 1 "missing PNG" "$CDRL" energy -m "$T/img.safetensors" --png "$T/nope.png"
one_line "nope.png"
run 1 "missing tensor file" "$CDRL" energy -m "$T/toy.safetensors" --tensor "$T/nope.safetensors"
one_line "nope.safetensors"
run 1 "missing tensor name" "$CDRL" energy -m "$T/toy.safetensors" --tensor "$T/p.safetensors:y"
one_line "no tensor 'y'"
run 1 "points for an image model" "$CDRL" energy -m "$T/img.safetensors" --tensor "$T/p.safetensors"
one_line "has shape (5, 2), the model takes (n, 64)"
run 1 "missing model" "$CDRL" energy -m "$T/nope" --tensor "$T/p.safetensors"
one_line "nope"
run 2 "level past T" "$CDRL" energy -m "$T/toy.safetensors" --tensor "$T/p.safetensors" -l 7
one_line "--level 7: the model has levels 1..6"
run 2 "unknown flag" "$CDRL" energy -m "$T/toy.safetensors" --tensor "$T/p.safetensors" --bogus
[ "$(cat "$T/err")" = "cdrl energy: unknown option '--bogus' (see cdrl energy --help)" ]
ok $? "unknown flag message"
run 2 "no input" "$CDRL" energy -m "$T/toy.safetensors"
one_line "give either --png FILE... or --tensor"
run 2 "--png without files" "$CDRL" energy -m "$T/img.safetensors" --png -g
one_line "option '--png' needs a value"
run 2 "--ema with --no-ema" "$CDRL" energy -m "$T/toy.safetensors" --tensor "$T/p.safetensors" --ema --no-ema
one_line "contradict"
run 0 "--help" "$CDRL" energy --help
n_opt=$(grep -c '^  *-' "$T/out")
n_def=$(grep '^  *-' "$T/out" | grep -c '(default: [^)]*)$')
[ "$n_opt" -gt 0 ] && [ "$n_opt" -eq "$n_def" ]
ok $? "energy --help: $n_def of $n_opt option lines end with (default: ...)"

echo "test_cli_energy: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
