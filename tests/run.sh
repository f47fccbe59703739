#!/usr/bin/env bash
# tests/run.sh: runs each test (a binary, or a .sh script run with bash) and adds their
# counts into one closing line. Each must end with "N passed, N failed[, N skipped]".
set -u
passed=0 failed=0 skipped=0 status=0
for bin in "$@"; do
    echo "== $bin"
    case $bin in
    *.sh) out=$(bash "$bin" 2>&1); rc=$? ;;
    *) out=$("$bin" 2>&1); rc=$? ;;
    esac
    printf '%s\n' "$out"
    last=$(printf '%s\n' "$out" | tail -n 1)
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
        skipped=$((skipped + ${BASH_REMATCH[4]:-0}))
    else
        echo "$bin: ended without its count line (exit $rc)"
        failed=$((failed + 1))
    fi
    [ "$rc" -eq 0 ] || status=1
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && exit "$status" || exit 1
