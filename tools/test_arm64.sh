#!/bin/sh
# tools/test_arm64.sh BUILD_DIR ROOT [TEST...]: runs the arm64 engine tests under qemu-user
# on two CPUs at once (one per core): `max` has the dot-product instructions (the SDOT
# kernels), a Cortex-A53 has not (the plain NEON kernels). MOESCOPE_SIMD=neon keeps
# test_fidelity to the NEON path (its scalar runs are make test's, the same C). Each log
# is printed whole once both have ended; the exit status fails when either failed. A run
# that has not ended after ARM64_TIMEOUT seconds (default 1800: it takes about 4 minutes of
# a core) is stopped and fails, so a hang fails CI instead of stalling it.
build=$1 root=$2
limit=${ARM64_TIMEOUT:-1800}
shift 2
status=0
for cpu in max cortex-a53; do
    (MOESCOPE_SIMD=neon timeout -k 10 "$limit" qemu-aarch64 -cpu "$cpu" -L "$root" \
        "$build/test_engine" "$@" >"$build/test-$cpu.log" 2>&1
     rc=$?
     [ $rc = 124 ] && echo "stopped: still running after $limit s (a hang?)" >>"$build/test-$cpu.log"
     echo $rc >"$build/test-$cpu.rc") &
done
wait
for cpu in max cortex-a53; do
    echo "== $build/test_engine under qemu-aarch64 -cpu $cpu"
    cat "$build/test-$cpu.log"
    [ "$(cat "$build/test-$cpu.rc")" = 0 ] || status=1
done
exit $status
