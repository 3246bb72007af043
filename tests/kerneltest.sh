#!/bin/sh
# The kernel choice in separate processes: a user's BLIS_ARCH_TYPE is respected, an invalid
# one is refused with a message (BLIS itself would abort), and without it the library picks;
# LCT_ISA caps what it picks.
set -u
info="$1"
fail=0
out=$(env -u BLIS_ARCH_TYPE "$info" 1 2>&1) || { echo "FAIL: lct-info without BLIS_ARCH_TYPE: $out"; fail=1; }
echo "$out" | grep -q "BLIS kernels: .* (chosen by libcontrast\|BLIS's own choice)" || { echo "FAIL: default source: $out"; fail=1; }
if grep -q avx512bw /proc/cpuinfo && grep -q avx512vl /proc/cpuinfo && grep -q avx512dq /proc/cpuinfo; then
    echo "$out" | grep -q "BLIS kernels: skx (chosen by libcontrast)" || { echo "FAIL: AVX-512 CPU not on skx: $out"; fail=1; }
fi
out=$(BLIS_ARCH_TYPE=25 "$info" 1 2>&1) || { echo "FAIL: BLIS_ARCH_TYPE=25: $out"; fail=1; }
echo "$out" | grep -q "BLIS kernels: generic (from BLIS_ARCH_TYPE)" || { echo "FAIL: user choice not respected: $out"; fail=1; }
for bad in 13 99 skx -1; do
    out=$(BLIS_ARCH_TYPE=$bad "$info" 1 2>&1)
    rc=$?
    [ $rc -eq 1 ] || { echo "FAIL: BLIS_ARCH_TYPE=$bad exited $rc (expected a clean error): $out"; fail=1; }
    echo "$out" | grep -q "names no kernel set" || { echo "FAIL: BLIS_ARCH_TYPE=$bad message: $out"; fail=1; }
done
# LCT_ISA caps the features the library reads: "avx2" gives the AVX2 kernels on an AVX-512 CPU;
# a value it does not know is refused like a bad BLIS_ARCH_TYPE.
if grep -q avx2 /proc/cpuinfo && grep -q fma /proc/cpuinfo; then
    out=$(env -u BLIS_ARCH_TYPE LCT_ISA=avx2 "$info" 1 2>&1) || { echo "FAIL: LCT_ISA=avx2: $out"; fail=1; }
    echo "$out" | grep -q "BLIS kernels: \(haswell\|zen2\|zen3\) (chosen by libcontrast)" \
        || { echo "FAIL: LCT_ISA=avx2 did not cap the kernel choice: $out"; fail=1; }
fi
for bad in sse9 AVX2 " "; do
    out=$(env -u BLIS_ARCH_TYPE LCT_ISA="$bad" "$info" 1 2>&1)
    rc=$?
    [ $rc -eq 1 ] || { echo "FAIL: LCT_ISA='$bad' exited $rc (expected a clean error): $out"; fail=1; }
    echo "$out" | grep -q "LCT_ISA='$bad' is none of" || { echo "FAIL: LCT_ISA='$bad' message: $out"; fail=1; }
done
# The pool suite (split GEMMs equal whole ones and bli_sgemm bit for bit, a host's scheduler equals
# one thread) on the AVX2 kernels and on BLIS's generic ones too: the macro-kernel must follow
# every micro-kernel's shape and preferred storage.
pool="${2:-}"
if [ -n "$pool" ] && grep -q avx2 /proc/cpuinfo && grep -q fma /proc/cpuinfo; then
    haswell=$(for id in $(seq 0 30); do
        BLIS_ARCH_TYPE=$id "$info" 1 2>/dev/null | grep -q "BLIS kernels: haswell " && { echo "$id"; break; }
    done)
    for id in $haswell 25; do
        out=$(BLIS_ARCH_TYPE=$id "$pool" 2>&1) || { echo "FAIL: the pool suite on kernel set $id: $out"; fail=1; }
        echo "$out" | tail -n 1
    done
fi
[ $fail = 0 ] && echo "kernel selection: auto, user-set and invalid BLIS_ARCH_TYPE, and LCT_ISA, all behave"
exit $fail
