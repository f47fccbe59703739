#!/bin/sh
# tools/deps.sh [build|test|test-arm64]: makes sure what moescope needs is installed.
# As root on Debian/Ubuntu it installs what is missing with apt-get; otherwise it prints the
# exact command and fails. `build` needs the libraries; `test` also needs tmux, clang and its
# sanitizer/fuzzer runtimes, man (for the man-page lint), valgrind (tools/valgrind_run.sh) and,
# on x86, SIMDe's headers (test_quant runs the NEON kernels through them). `test-arm64`
# (make test-arm64) needs the arm64 cross-compiler, qemu-user and the arm64 builds of the
# libraries (Debian multiarch: dpkg --add-architecture arm64).
set -u
what=${1:-build}

missing=""
need_pkg() { # need_pkg PKG-CONFIG-NAME DEBIAN-PACKAGE
    pkg-config --exists "$1" 2>/dev/null || missing="$missing $2"
}
need_cmd() { # need_cmd COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}

need_cmd pkg-config pkg-config
if command -v pkg-config >/dev/null 2>&1; then
    need_pkg ncursesw libncurses-dev
    need_pkg readline libreadline-dev
    need_pkg libcjson libcjson-dev
    need_pkg libcurl libcurl4-openssl-dev
else
    missing="$missing libncurses-dev libreadline-dev libcjson-dev libcurl4-openssl-dev"
fi
need_cmd cc gcc
need_cmd make make
if [ "$what" = test ]; then
    need_cmd tmux tmux
    need_cmd openssl openssl    # the https test makes its own CA and certificate
    need_cmd clang clang
    need_cmd man man-db
    need_cmd valgrind valgrind
    # the pre-tokenizer test applies llama.cpp's regexes with Python's regex module
    python3 -c 'import regex' 2>/dev/null || missing="$missing python3-regex"
    # the chat-template test renders the models' templates with Python's jinja2
    python3 -c 'import jinja2' 2>/dev/null || missing="$missing python3-jinja2"
    # clang's ASan/UBSan and libFuzzer runtimes.
    ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
        ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-aarch64.a >/dev/null 2>&1 ||
        missing="$missing libclang-rt-dev"
    case "$(uname -m)" in
    x86_64 | i?86) [ -f /usr/include/simde/arm/neon.h ] || missing="$missing libsimde-dev" ;;
    esac
fi

if [ "$what" = test-arm64 ]; then
    need_cmd aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
    need_cmd qemu-aarch64 qemu-user
    for p in ncursesw:libncurses-dev readline:libreadline-dev libcjson:libcjson-dev libcurl:libcurl4-openssl-dev; do
        PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
            pkg-config --exists "${p%%:*}" 2>/dev/null || missing="$missing ${p#*:}:arm64"
    done
fi

[ -z "$missing" ] && exit 0
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "moescope: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    case "$missing" in
    *:arm64*) dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64 ;;
    esac
    # Wait for another apt-get (make bench-anchor's deps, say, started beside make test)
    # rather than fail on its lock.
    lock="-o DPkg::Lock::Timeout=600"
    # shellcheck disable=SC2086
    apt-get $lock update -qq >&2 || true
    # shellcheck disable=SC2086
    apt-get $lock install -y -qq --no-install-recommends $missing >&2 && exit 0
    echo "moescope: apt-get could not install:$missing" >&2
    exit 1
fi

cat >&2 <<MSG
moescope needs packages that are not installed:$missing
Install them with:
  Debian/Ubuntu: sudo apt-get install$missing
                 (names ending :arm64 first need: sudo dpkg --add-architecture arm64 && sudo apt-get update)
  Fedora:        sudo dnf install ncurses-devel readline-devel cjson-devel libcurl-devel pkgconf-pkg-config gcc make tmux clang compiler-rt man-db valgrind simde-devel
  Homebrew:      brew install ncurses readline cjson curl pkg-config tmux llvm simde (valgrind: Linux only)
MSG
exit 1
