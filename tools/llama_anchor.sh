#!/usr/bin/env bash
# tools/llama_anchor.sh: llama.cpp's llama-bench and llama-server, built once per machine, as
# the reference moescope's speed (make bench) and its remote engine are measured against.
#
#   tools/llama_anchor.sh                   builds what is missing, prints the binaries' paths
#   tools/llama_anchor.sh --print W [--variant V] [--if-built]
#                                           prints the path of W (bench | server) of variant V
#                                           (native, the default, or avx2); builds it first
#                                           unless --if-built, which fails instead
#   tools/llama_anchor.sh --variants        prints the variants this machine builds
#
# Where: ${XDG_CACHE_HOME:-~/.cache}/moescope/llama.cpp/
#   node-llama-cpp-3.21.1.tgz   `npm pack node-llama-cpp@3.21.1`: it ships llama.cpp's whole
#                               source as package/llama/gitRelease.bundle (commit 80fb11ac,
#                               the one the fixtures were recorded with)
#   src/                        `git clone` of that bundle
#   build-native/bin/           -DGGML_NATIVE=ON: this CPU's best path
#   build-avx2/bin/             AVX2 + FMA + F16C only, on a CPU that has AVX-512, so that
#                               moescope's forced AVX2 path (MOESCOPE_SIMD=avx2) is compared
#                               with llama.cpp's AVX2 path
# A build takes about 10 minutes of 2 cores; it runs at nice 10, and a second caller waits
# for the first (flock) instead of building the same thing twice.
set -euo pipefail

NODE_LLAMA_CPP=node-llama-cpp@3.21.1
TARGETS=(llama-bench llama-server)
dir=${XDG_CACHE_HOME:-$HOME/.cache}/moescope/llama.cpp

say() { echo "llama_anchor: $*" >&2; }
die() { say "$*"; exit 1; }

usage() {
    sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The variants this machine builds: native always; avx2 too where the CPU has AVX-512
# (elsewhere native already is the AVX2 path, or there is no AVX2 at all).
variants() {
    echo native
    if [ "$(uname -m)" = x86_64 ] && grep -qw avx512f /proc/cpuinfo 2>/dev/null &&
        grep -qw avx2 /proc/cpuinfo; then
        echo avx2
    fi
}

cmake_flags() { # cmake_flags VARIANT
    local common=(-DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF
                  -DBUILD_SHARED_LIBS=OFF)
    case "$1" in
    native) echo "${common[@]}" -DGGML_NATIVE=ON ;;
    avx2) echo "${common[@]}" -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
                -DGGML_F16C=ON -DGGML_AVX512=OFF ;;
    *) die "unknown variant '$1' (native, avx2)" ;;
    esac
}

binary() { # binary VARIANT bench|server
    echo "$dir/build-$1/bin/llama-$2"
}

built() { # built VARIANT: both targets are there
    local t
    for t in "${TARGETS[@]}"; do
        [ -x "$dir/build-$1/bin/$t" ] || return 1
    done
}

fetch_source() {
    [ -d "$dir/src/.git" ] && return 0
    command -v npm >/dev/null || die "npm is needed to fetch $NODE_LLAMA_CPP (llama.cpp's source)"
    command -v git >/dev/null || die "git is needed to unpack llama.cpp's source"
    mkdir -p "$dir"
    local tgz=$dir/node-llama-cpp-3.21.1.tgz
    if [ ! -s "$tgz" ]; then
        say "fetching $NODE_LLAMA_CPP (llama.cpp's source, about 35 MB)"
        (cd "$dir" && npm pack "$NODE_LLAMA_CPP" >"$dir/pack.log" 2>&1) ||
            die "npm pack $NODE_LLAMA_CPP failed, see $dir/pack.log"
    fi
    tar -xzf "$tgz" -C "$dir" package/llama/gitRelease.bundle ||
        die "$tgz: no package/llama/gitRelease.bundle in it"
    rm -rf "$dir/src.tmp"
    git clone -q "$dir/package/llama/gitRelease.bundle" "$dir/src.tmp" ||
        die "git clone of $dir/package/llama/gitRelease.bundle failed"
    mv "$dir/src.tmp" "$dir/src"
}

# Another process (a hand-started build, or an older run of this script) already running
# cmake on that build folder.
foreign_build() { # foreign_build VARIANT
    pgrep -f "cmake --build .*build-$1( |$)" >/dev/null 2>&1
}

build() { # build VARIANT
    local v=$1
    local out=$dir/build-$v log=$dir/build-$v.log
    built "$v" && return 0
    mkdir -p "$dir"
    exec 9>"$dir/build-$v.lock"
    flock 9
    while foreign_build "$v"; do
        say "build-$v: another cmake is building it; waiting"
        sleep 20
    done
    if ! built "$v"; then
        fetch_source
        command -v cmake >/dev/null || die "cmake is needed to build llama.cpp"
        say "building llama.cpp ($v) into $out (about 10 minutes on 2 cores; log: $log)"
        # shellcheck disable=SC2046
        if ! { nice -n 10 cmake -S "$dir/src" -B "$out" $(cmake_flags "$v") &&
               nice -n 10 cmake --build "$out" -j "$(nproc 2>/dev/null || echo 2)" \
                   --target "${TARGETS[@]}"; } >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            die "building llama.cpp ($v) failed, see $log"
        fi
        built "$v" || die "$out/bin: the build finished without ${TARGETS[*]}"
    fi
    flock -u 9
}

print=""
variant=native
if_built=false
while [ $# -gt 0 ]; do
    case "$1" in
    --print) print=${2:-}; shift ;;
    --variant) variant=${2:-}; shift ;;
    --if-built) if_built=true ;;
    --variants) variants; exit 0 ;;
    *) usage ;;
    esac
    shift
done

if [ -n "$print" ]; then
    case "$print" in bench | server) ;; *) usage ;; esac
    cmake_flags "$variant" >/dev/null
    if ! built "$variant"; then
        $if_built && die "llama.cpp ($variant) is not built in $dir/build-$variant (make bench-anchor builds it)"
        build "$variant"
    fi
    binary "$variant" "$print"
    exit 0
fi

for v in $(variants); do
    build "$v"
    echo "$v: $(binary "$v" bench) $(binary "$v" server)"
done
