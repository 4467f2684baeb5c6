# Helpers sourced by the CLI test scripts (tests/test_cli*.sh). The caller sets T (its output
# folder) and checks=0 failed=0 before sourcing; every check counts into those two.

ok() { # ok CONDITION-EXIT-STATUS WHAT
    checks=$((checks + 1))
    if [ "$1" -eq 0 ]; then
        echo "  ok   $2"
    else
        failed=$((failed + 1))
        echo "  FAIL $2"
        [ -s "$T/err" ] && sed 's/^/       stderr: /' "$T/err" | head -5
    fi
}

# run EXPECTED-RC WHAT CMD...: runs CMD with stdout in $T/out and stderr in $T/err, checks rc.
run() {
    want=$1
    what=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" -eq "$want" ]
    ok $? "$what (exit $rc, want $want)"
}

# one_line TEXT: stderr of the last run is exactly one line and contains TEXT.
one_line() {
    [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$1" "$T/err"
    ok $? "one line naming: $1"
}
