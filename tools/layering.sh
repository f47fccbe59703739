#!/bin/sh
# tools/layering.sh: the layers of ../shared/DESIGN.md, checked on every #include.
#  - engine/ (and its folders) includes only system headers and headers inside engine/, and
#    never curses, readline, cJSON or libcurl;
#  - tui/, cli/, backend/, remote/, sessions/ and themes/ include, from engine/, only the public headers
#    at engine/'s top (never engine/gguf, model, simd, text or sys);
#  - cli/, backend/, remote/, sessions/ and engine/ never include curses or readline; tui/ never the GGUF
#    reader.
# Prints every broken rule as FILE:LINE: what, and exits 1 when there is one.
set -u
cd "$(dirname "$0")/.." || exit 2
status=0
fail() { echo "$1"; status=1; }

# The headers each folder may include with quotes: its own, and those of the folders it may use.
internal=$(find engine -mindepth 2 -name '*.h' -exec basename {} \; | sort -u)
public=$(find engine -maxdepth 1 -name '*.h' -exec basename {} \; | sort -u)
enginehdrs=$(printf '%s\n%s\n' "$internal" "$public")

check_includes() { # check_includes FOLDER RULE-NAME ALLOWED-HEADERS...
    dir=$1 rule=$2
    shift 2
    [ -d "$dir" ] || return 0
    grep -nHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' $(find "$dir" -name '*.[ch]') 2>/dev/null |
    while IFS= read -r line; do
        hdr=$(printf '%s' "$line" | sed -E 's/.*#[[:space:]]*include[[:space:]]*"([^"]*)".*/\1/')
        base=$(basename "$hdr")
        ok=0
        for a in "$@"; do
            [ "$base" = "$a" ] && ok=1 && break
        done
        [ $ok = 1 ] || echo "${line%%#*}: $rule: includes \"$hdr\""
    done
}

out=$(check_includes engine "engine/ includes only its own headers" $enginehdrs)
[ -n "$out" ] && fail "$out"

locals() { find "$@" -name '*.h' -exec basename {} \; 2>/dev/null | sort -u; }
for dir in tui cli backend remote sessions themes; do
    [ -d "$dir" ] || continue
    allowed="$public $(locals tui cli backend remote sessions themes)"
    out=$(check_includes "$dir" "$dir/ may include only engine's public headers" $allowed)
    [ -n "$out" ] && fail "$out"
    # An internal engine header's name must not be reached through a path either.
    out=$(grep -nHE '#[[:space:]]*include[[:space:]]*"[^"]*engine/(gguf|model|simd|text|sys)/' \
          $(find "$dir" -name '*.[ch]') 2>/dev/null)
    [ -n "$out" ] && fail "$out: reaches inside engine/"
done

out=$(grep -nHE '#[[:space:]]*include[[:space:]]*[<"](n?curses|ncursesw/|readline/|cjson/|cJSON|curl/)' \
      $(find engine -name '*.[ch]') 2>/dev/null)
[ -n "$out" ] && fail "$out: engine/ uses libc, libm and pthreads only"
for dir in cli backend remote sessions; do
    [ -d "$dir" ] || continue
    out=$(grep -nHE '#[[:space:]]*include[[:space:]]*[<"](n?curses|ncursesw/|readline/)' \
          $(find "$dir" -name '*.[ch]') 2>/dev/null)
    [ -n "$out" ] && fail "$out: $dir/ never includes curses or readline"
done
out=$(grep -nHE '#[[:space:]]*include[[:space:]]*"gguf(_write)?\.h"' $(find tui -name '*.[ch]') 2>/dev/null)
[ -n "$out" ] && fail "$out: tui/ never parses GGUF"

[ $status = 0 ] || echo "make layering: the layers of ../shared/DESIGN.md are broken (tools/layering.sh)"
exit $status
