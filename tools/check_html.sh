#!/bin/sh
# tools/check_html.sh PAGE.html|SESSION.json [SHOT.png]: opens an HTML export (or exports a
# session first) in headless Chromium with the network off, takes a screenshot and checks
# that the page drew something real: a PNG with many colours and a fair share of non-white
# pixels (a blank page has one colour and none), and that its script ran (the page sets
# data-js="ok" on <body> when it has). Chromium is Debian's `chromium` package, installed
# here when running as root and missing. For CI:
#   build/session_bench --sample build/sample-session.json   # tools/session_bench.c
#   tools/check_html.sh build/sample-session.json build/sample-session.png
# Exit: 0 good, 1 the page failed a check, 2 no Chromium (and not root to install it).
set -eu

page=${1:?usage: tools/check_html.sh PAGE.html|SESSION.json [SHOT.png]}
[ -f "$page" ] || { echo "check_html: $page: no such file" >&2; exit 1; }

chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "check_html: installing chromium" >&2
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
            chromium >/dev/null
        chrome=$(command -v chromium)
    else
        echo "check_html: chromium is not installed (apt-get install chromium)" >&2
        exit 2
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A session is exported first, with $MOESCOPE (default ./moescope).
case $page in
*.json)
    "${MOESCOPE:-./moescope}" export html "$page" "$work/page.html" || exit 1
    page=$work/page.html ;;
esac
shot=${2:-$work/shot.png}
abs=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
flags="--headless --no-sandbox --disable-gpu --disable-background-networking
       --disable-component-update --disable-sync --no-first-run --no-default-browser-check
       --hide-scrollbars --user-data-dir=$work/profile"

# shellcheck disable=SC2086 # flags are words on purpose
timeout 120 "$chrome" $flags --window-size=1100,1800 --screenshot="$shot" "file://$abs" \
    >"$work/log" 2>&1 || { cat "$work/log" >&2; echo "check_html: chromium failed" >&2; exit 1; }
[ -s "$shot" ] || { cat "$work/log" >&2; echo "check_html: no screenshot" >&2; exit 1; }

# The DOM after scripts ran: the page's script marks <body> when it has run without error.
# shellcheck disable=SC2086
timeout 120 "$chrome" $flags --dump-dom "file://$abs" >"$work/dom.html" 2>"$work/log2" || true
if ! grep -q 'data-js="ok"' "$work/dom.html"; then
    echo "check_html: the page's script did not run to its end" >&2
    exit 1
fi

# The layer selector: opened at another layer (page.html#layer=N), the tokens' colours must
# follow that layer's top-1 experts. N is the first routed layer that is not the default.
other=$(grep -o '<option value="[0-9]*">' "$page" | head -n 1 | tr -dc 0-9)
if [ -n "$other" ]; then
    # shellcheck disable=SC2086
    timeout 120 "$chrome" $flags --dump-dom "file://$abs#layer=$other" >"$work/dom2.html" \
        2>>"$work/log2" || true
    python3 - "$work/dom.html" "$work/dom2.html" "$other" <<'EOF2'
import re, sys
a, b = (re.findall(r'<span class="(t[^"]*)"', open(f).read()) for f in sys.argv[1:3])
if not a or len(a) != len(b):
    sys.exit("check_html: the token spans are missing after the layer change")
changed = sum(x != y for x, y in zip(a, b))
print("check_html: layer %s recolours %d of %d tokens" % (sys.argv[3], changed, len(a)))
if changed == 0:
    sys.exit("check_html: choosing another layer changed no token's colour")
EOF2
fi

# Decode the PNG (8-bit RGB/RGBA, non-interlaced, as Chromium writes it) and count.
python3 - "$shot" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("check_html: not a PNG")
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
if depth != 8 or ctype not in (2, 6) or interlace:
    sys.exit("check_html: unexpected PNG layout (depth %d, colour type %d)" % (depth, ctype))
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colours, inked, out = bytearray(stride), set(), 0, 0
for y in range(h):
    f, line = raw[out], bytearray(raw[out + 1:out + 1 + stride])
    out += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 2 == 0:  # every other row is plenty for counting
        for x in range(0, stride, bpp * 2):
            px = bytes(line[x:x + 3])
            colours.add(px)
            inked += px != b"\xff\xff\xff"
    prev = line
sampled = (h + 1) // 2 * ((w + 1) // 2)
share = inked / sampled
print("check_html: %dx%d screenshot, %d colours, %.1f%% of pixels not white" %
      (w, h, len(colours), 100 * share))
if len(colours) < 32 or share < 0.02:
    sys.exit("check_html: the screenshot looks empty")
EOF
