/* engine/text/pretokenize.c: see pretokenize.h. Each regex of llama.cpp's lists is one function
 * here, named after the regex it stands for. */
#include "pretokenize.h"

#include <string.h>

#include "unicode.h"

struct pt_text {
    const uint32_t *cp; /* (n) codepoints */
    const uint8_t *cls; /* (n) unicode_class of each */
    size_t n;
};

/* ---- character classes ----
 * "rx_" classes follow llama.cpp's collapsed std::regex: ASCII keeps its own characters (so
 * \p{L} is [A-Za-z] there, \p{P} and \p{S} are the fixed ASCII lists of unicode.cpp, and '~'
 * is in neither), any other codepoint is its category, and White_Space codepoints >= 128
 * become \v so only \s matches them. The same \s holds for the regexes llama.cpp runs with
 * std::wregex, whose text gets the same \v substitution. */

static bool pt_ascii_space(uint32_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool pt_ascii_alpha(uint32_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool pt_ascii_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}

/* Printable ASCII that is neither a letter nor a digit: !-/ :-@ [-` {-~ */
static bool pt_ascii_punct_all(uint32_t c)
{
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
           (c >= 0x7b && c <= 0x7e);
}

static bool rx_space(const struct pt_text *t, size_t i)
{
    uint32_t c = t->cp[i];
    return c < 128 ? pt_ascii_space(c) : (t->cls[i] & UCAT_WHITESPACE) != 0;
}

static bool rx_cat(const struct pt_text *t, size_t i, int cat)
{
    return !(t->cls[i] & UCAT_WHITESPACE) && (t->cls[i] & UCAT_MASK) == cat;
}

static bool rx_L(const struct pt_text *t, size_t i)
{
    uint32_t c = t->cp[i];
    return c < 128 ? pt_ascii_alpha(c) : rx_cat(t, i, UCAT_L);
}

static bool rx_N(const struct pt_text *t, size_t i)
{
    uint32_t c = t->cp[i];
    return c < 128 ? pt_ascii_digit(c) : rx_cat(t, i, UCAT_N);
}

static bool rx_M(const struct pt_text *t, size_t i)
{
    return t->cp[i] >= 128 && rx_cat(t, i, UCAT_M);
}

/* unicode.cpp's ASCII \p{P}: !-#%-*,-/:-;?-@[-]_{} */
static bool rx_P(const struct pt_text *t, size_t i)
{
    uint32_t c = t->cp[i];
    if (c < 128)
        return c != '$' && c != '+' && c != '<' && c != '=' && c != '>' && c != '^' &&
               c != '`' && c != '|' && c != '~' && pt_ascii_punct_all(c);
    return rx_cat(t, i, UCAT_P);
}

/* unicode.cpp's ASCII \p{S}: $+<=>^`| */
static bool rx_S(const struct pt_text *t, size_t i)
{
    uint32_t c = t->cp[i];
    if (c < 128)
        return c && strchr("$+<=>^`|", (int)c) != NULL;
    return rx_cat(t, i, UCAT_S);
}

static bool rx_crlf(const struct pt_text *t, size_t i)
{
    return t->cp[i] == '\r' || t->cp[i] == '\n';
}

/* The codepoint std::wregex sees: White_Space beyond ASCII became \v. */
static uint32_t w_cp(const struct pt_text *t, size_t i)
{
    return (t->cp[i] > 0x7f && (t->cls[i] & UCAT_WHITESPACE)) ? 0x0b : t->cp[i];
}

struct pt_range {
    uint32_t lo, hi;
};

static bool pt_in_ranges(uint32_t c, const struct pt_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi)
            return true;
    return false;
}

/* deepseek-llm's letter class, \s?[A-Za-zµÀ-ÖØ-öø-ƺ...𞤀-𞥃]+ (cased letters), as ranges. */
static const struct pt_range dsl_letters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
    {0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
    {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556},
    {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF},
    {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
    {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
    {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
    {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
    {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
    {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787},
    {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

/* deepseek-llm's \s?[!-/:-~！-／：-～‘-‟　-。]+ */
static const struct pt_range dsl_punct[] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F},
    {0x3000, 0x3002},
};

/* deepseek-llm and -coder's [一-龥ࠀ-一가-퟿]+ */
static const struct pt_range dsl_cjk[] = {
    {0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF},
};

/* deepseek-v3's [一-龥぀-ゟ゠-ヿ]+ */
static const struct pt_range ds3_cjk[] = {
    {0x4E00, 0x9FA5}, {0x3040, 0x309F}, {0x30A0, 0x30FF},
};

#define PT_N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the regex driver ----
 * A matcher returns the length of the match that std::regex finds starting at p (0 when none);
 * start is the piece's first index, end one past its last. */
typedef size_t (*pt_match_fn)(const struct pt_text *t, size_t start, size_t p, size_t end);

/* One regex over every piece: matches and the gaps between them become pieces. */
static size_t pt_split_regex(const struct pt_text *t, const size_t *in, size_t n_in, size_t *out,
                             pt_match_fn match)
{
    size_t n_out = 0, start = 0;
    for (size_t k = 0; k < n_in; k++) {
        size_t end = start + in[k], gap = start;
        for (size_t p = start; p < end;) {
            size_t len = match(t, start, p, end);
            if (len == 0) {
                p++;
                continue;
            }
            if (p > gap)
                out[n_out++] = p - gap;
            out[n_out++] = len;
            p += len;
            gap = p;
        }
        if (end > gap)
            out[n_out++] = end - gap;
        start = end;
    }
    return n_out;
}

typedef bool (*pt_class_fn)(const struct pt_text *t, size_t i);

static size_t pt_run(const struct pt_text *t, size_t p, size_t end, pt_class_fn cls)
{
    size_t q = p;
    while (q < end && cls(t, q))
        q++;
    return q - p;
}

/* X+ with an optional leading character of class lead: lead?X+ */
static size_t pt_opt_run(const struct pt_text *t, size_t p, size_t end, pt_class_fn lead,
                         pt_class_fn cls)
{
    if (lead(t, p) && p + 1 < end && cls(t, p + 1))
        return 1 + pt_run(t, p + 1, end, cls);
    return pt_run(t, p, end, cls);
}

static size_t pt_run_ranges(const struct pt_text *t, size_t p, size_t end,
                            const struct pt_range *r, size_t nr)
{
    size_t q = p;
    while (q < end && pt_in_ranges(w_cp(t, q), r, nr))
        q++;
    return q - p;
}

/* The whitespace tail shared by several regexes: \s*[\r\n]+|\s+(?!\S)|\s+ (the first one
 * only when crlf is set). */
static size_t pt_match_space_tail(const struct pt_text *t, size_t p, size_t end, bool crlf)
{
    size_t n = 0, last_nl = 0;
    while (p + n < end && rx_space(t, p + n)) {
        if (rx_crlf(t, p + n))
            last_nl = n + 1;
        n++;
    }
    if (n == 0)
        return 0;
    if (crlf && last_nl)
        return last_nl; /* \s* gives back characters until [\r\n]+ can match */
    if (p + n == end)
        return n;       /* \s+(?!\S) at the end of the piece */
    if (n > 1)
        return n - 1;   /* \s+(?!\S): leave the last space to the next word */
    return 1;           /* \s+ */
}

/* ---- the hand-written splitters llama.cpp itself uses for two regexes ---- */

struct pt_custom {
    const struct pt_text *t;
    size_t ini, end, prev_end;
    size_t *out;
    size_t n_out;
};

static uint8_t pc_flags(const struct pt_custom *c, size_t pos)
{
    return (pos >= c->ini && pos < c->end) ? c->t->cls[pos] : 0;
}

static uint32_t pc_cpt(const struct pt_custom *c, size_t pos)
{
    return (pos >= c->ini && pos < c->end) ? c->t->cp[pos] : 0xFFFFFFFFu;
}

static size_t pc_add(struct pt_custom *c, size_t end)
{
    size_t len = end - c->prev_end;
    if (len > 0)
        c->out[c->n_out++] = len;
    c->prev_end = end;
    return len;
}

static bool f_letter(uint8_t f) { return (f & UCAT_MASK) == UCAT_L; }
static bool f_number(uint8_t f) { return (f & UCAT_MASK) == UCAT_N; }
static bool f_space(uint8_t f) { return (f & UCAT_WHITESPACE) != 0; }

/* Only ASCII capitals lower-case to the letters the contractions test. */
static uint32_t pc_lower(uint32_t c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* 's|'t|'re|'ve|'m|'ll|'d (case-insensitive when icase): its length at pos, or 0. */
static size_t pc_contraction(const struct pt_custom *c, size_t pos, bool icase)
{
    if (pc_cpt(c, pos) != '\'' || pos + 1 >= c->end)
        return 0;
    uint32_t a = pc_cpt(c, pos + 1);
    if (icase)
        a = pc_lower(a);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (pos + 2 < c->end) {
        uint32_t b = pc_cpt(c, pos + 2);
        if (icase)
            b = pc_lower(b);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return 3;
    }
    return 0;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
static void pc_gpt2(struct pt_custom *c)
{
    for (size_t pos = c->ini; pos < c->end;) {
        uint32_t cpt = pc_cpt(c, pos);
        uint8_t flags = pc_flags(c, pos);
        size_t k = pc_contraction(c, pos, false);
        if (k) {
            pos += pc_add(c, pos + k);
            continue;
        }
        uint8_t f2 = cpt == ' ' ? pc_flags(c, pos + 1) : flags;
        if (f_letter(f2) || f_number(f2) || (!(f_space(f2) || f_letter(f2) || f_number(f2)) && f2)) {
            bool (*same)(uint8_t) = f_letter(f2) ? f_letter : f_number(f2) ? f_number : NULL;
            pos += (cpt == ' ');
            if (same) {
                while (same(f2))
                    f2 = pc_flags(c, ++pos);
            } else {
                while (!(f_space(f2) || f_letter(f2) || f_number(f2)) && f2)
                    f2 = pc_flags(c, ++pos);
            }
            pc_add(c, pos);
            continue;
        }
        size_t nws = 0;
        while (f_space(pc_flags(c, pos + nws)))
            nws++;
        if (nws > 1 && pc_cpt(c, pos + nws) != 0xFFFFFFFFu) {
            pos += nws - 1;
            pc_add(c, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            pc_add(c, pos);
            continue;
        }
        pc_add(c, ++pos);
    }
}

/* Llama-3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static void pc_llama3(struct pt_custom *c)
{
    for (size_t pos = c->ini; pos < c->end;) {
        uint32_t cpt = pc_cpt(c, pos);
        uint8_t flags = pc_flags(c, pos);
        size_t k = pc_contraction(c, pos, true);
        if (k) {
            pos += pc_add(c, pos + k);
            continue;
        }
        if (!(cpt == '\r' || cpt == '\n' || f_number(flags))) {
            if (f_letter(flags) || f_letter(pc_flags(c, pos + 1))) {
                pos++;
                while (f_letter(pc_flags(c, pos)))
                    pos++;
                pc_add(c, pos);
                continue;
            }
        }
        if (f_number(flags)) {
            size_t ini = pos;
            while (f_number(pc_flags(c, pos))) {
                if (++pos - ini >= 3) {
                    pc_add(c, pos);
                    ini = pos;
                }
            }
            pc_add(c, pos);
            continue;
        }
        uint8_t f2 = cpt == ' ' ? pc_flags(c, pos + 1) : flags;
        if (!(f_space(f2) || f_letter(f2) || f_number(f2)) && flags) {
            pos += (cpt == ' ');
            while (!(f_space(f2) || f_letter(f2) || f_number(f2)) && f2)
                f2 = pc_flags(c, ++pos);
            uint32_t c2 = pc_cpt(c, pos);
            while (c2 == '\r' || c2 == '\n')
                c2 = pc_cpt(c, ++pos);
            pc_add(c, pos);
            continue;
        }
        size_t nws = 0, last_nl = 0;
        while (f_space(pc_flags(c, pos + nws))) {
            uint32_t c2 = pc_cpt(c, pos + nws);
            if (c2 == '\r' || c2 == '\n')
                last_nl = pos + nws + 1;
            nws++;
        }
        if (last_nl > 0) {
            pos = last_nl;
            pc_add(c, pos);
            continue;
        }
        if (nws > 1 && pc_cpt(c, pos + nws) != 0xFFFFFFFFu) {
            pos += nws - 1;
            pc_add(c, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            pc_add(c, pos);
            continue;
        }
        pc_add(c, ++pos);
    }
}

typedef void (*pt_custom_fn)(struct pt_custom *c);

static size_t pt_split_custom(const struct pt_text *t, const size_t *in, size_t n_in,
                              size_t *out, pt_custom_fn fn)
{
    struct pt_custom c = {.t = t, .out = out};
    size_t start = 0;
    for (size_t k = 0; k < n_in; k++) {
        c.ini = c.prev_end = start;
        c.end = start + in[k];
        fn(&c);
        start = c.end;
    }
    return c.n_out;
}

/* ---- matchers for the regexes llama.cpp runs through std::regex ---- */

static bool cl_punct_default(const struct pt_text *t, size_t i)
{
    uint32_t c = t->cp[i];
    return rx_P(t, i) || (c < 128 && c && strchr("$+<=>^~|", (int)c));
}

static bool cl_punct_falcon(const struct pt_text *t, size_t i)
{
    uint32_t c = t->cp[i];
    return rx_P(t, i) || (c < 128 && c && strchr("$+<=>^~|`", (int)c));
}

/* [\p{P}\$\+<=>\^~\|]+ */
static size_t m_punct_default(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    return pt_run(t, p, end, cl_punct_default);
}

/* [\p{P}\$\+<=>\^~\|`]+ */
static size_t m_punct_falcon(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    return pt_run(t, p, end, cl_punct_falcon);
}

/* \p{N}+ */
static size_t m_num_plus(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    return pt_run(t, p, end, rx_N);
}

/* \p{N} */
static size_t m_num1(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    (void)end;
    return rx_N(t, p) ? 1 : 0;
}

/* \p{N}{1,3} */
static size_t m_num13(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    size_t n = pt_run(t, p, end, rx_N);
    return n > 3 ? 3 : n;
}

static bool cl_ascii_digit(const struct pt_text *t, size_t i)
{
    return pt_ascii_digit(t->cp[i]);
}

/* [0-9][0-9][0-9] */
static size_t m_digit3(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    return pt_run(t, p, end, cl_ascii_digit) >= 3 ? 3 : 0;
}

/* [\r\n] */
static size_t m_crlf(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    (void)end;
    return rx_crlf(t, p) ? 1 : 0;
}

/* \s?[...]+ over one of deepseek-llm's explicit classes (std::wregex) */
static size_t pt_opt_space_ranges(const struct pt_text *t, size_t p, size_t end,
                                  const struct pt_range *r, size_t nr)
{
    if (rx_space(t, p) && p + 1 < end && pt_in_ranges(w_cp(t, p + 1), r, nr))
        return 1 + pt_run_ranges(t, p + 1, end, r, nr);
    return pt_run_ranges(t, p, end, r, nr);
}

static size_t m_dsl_letters(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    return pt_opt_space_ranges(t, p, end, dsl_letters, PT_N(dsl_letters));
}

static size_t m_dsl_punct(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    return pt_opt_space_ranges(t, p, end, dsl_punct, PT_N(dsl_punct));
}

/* \s+$ : only the whitespace run that reaches the end of the piece. A run that failed at its
 * first character fails at every later one, so only a run's start is tried. */
static size_t m_space_eol(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    if (p > s && rx_space(t, p - 1))
        return 0;
    size_t n = pt_run(t, p, end, rx_space);
    return (n > 0 && p + n == end) ? n : 0;
}

static size_t m_dsl_cjk(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    return pt_run_ranges(t, p, end, dsl_cjk, PT_N(dsl_cjk));
}

static size_t m_ds3_cjk(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    return pt_run_ranges(t, p, end, ds3_cjk, PT_N(ds3_cjk));
}

/* \s?\p{L}+ */
static size_t m_space_letters(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    return pt_opt_run(t, p, end, rx_space, rx_L);
}

/* \s?\p{P}+ */
static size_t m_space_punct(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    return pt_opt_run(t, p, end, rx_space, rx_P);
}

static bool cl_not_crlf_L_N(const struct pt_text *t, size_t i)
{
    return !rx_crlf(t, i) && !rx_L(t, i) && !rx_N(t, i);
}

static bool cl_not_space_L_N(const struct pt_text *t, size_t i)
{
    return !rx_space(t, i) && !rx_L(t, i) && !rx_N(t, i);
}

static bool cl_is_space_char(const struct pt_text *t, size_t i)
{
    return t->cp[i] == ' ';
}

/*  ?X+[\r\n]* */
static size_t pt_opt_space_run_crlf(const struct pt_text *t, size_t p, size_t end,
                                    pt_class_fn cls)
{
    size_t n = pt_opt_run(t, p, end, cl_is_space_char, cls);
    if (n == 0)
        return 0;
    return n + pt_run(t, p + n, end, rx_crlf);
}

/* Qwen2: (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|
 *        \p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
/* qwen2's regex with its number branch as a parameter (\p{N} or glm4's \p{N}{1,3}). */
static size_t pt_qwen2_with(const struct pt_text *t, size_t s, size_t p, size_t end,
                            pt_match_fn number)
{
    struct pt_custom c = {.t = t, .ini = s, .end = end};
    size_t n = pc_contraction(&c, p, true);
    if (n)
        return n;
    if ((n = pt_opt_run(t, p, end, cl_not_crlf_L_N, rx_L)))
        return n;
    if ((n = number(t, s, p, end)))
        return n;
    if ((n = pt_opt_space_run_crlf(t, p, end, cl_not_space_L_N)))
        return n;
    return pt_match_space_tail(t, p, end, true);
}

static size_t m_qwen2(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    return pt_qwen2_with(t, s, p, end, m_num1);
}

static bool cl_ascii_punct_all(const struct pt_text *t, size_t i)
{
    return pt_ascii_punct_all(t->cp[i]);
}

static bool cl_ascii_alpha(const struct pt_text *t, size_t i)
{
    return pt_ascii_alpha(t->cp[i]);
}

static bool cl_ds3_lead(const struct pt_text *t, size_t i)
{
    return !rx_crlf(t, i) && !rx_L(t, i) && !rx_P(t, i) && !rx_S(t, i);
}

static bool cl_L_or_M(const struct pt_text *t, size_t i)
{
    return rx_L(t, i) || rx_M(t, i);
}

static bool cl_P_or_S(const struct pt_text *t, size_t i)
{
    return rx_P(t, i) || rx_S(t, i);
}

/* DeepSeek-V3: [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
 *               ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t m_ds3(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    (void)s;
    size_t n;
    if (cl_ascii_punct_all(t, p) && p + 1 < end && cl_ascii_alpha(t, p + 1))
        return 1 + pt_run(t, p + 1, end, cl_ascii_alpha);
    if ((n = pt_opt_run(t, p, end, cl_ds3_lead, cl_L_or_M)))
        return n;
    if ((n = pt_opt_space_run_crlf(t, p, end, cl_P_or_S)))
        return n;
    return pt_match_space_tail(t, p, end, true);
}

/* GLM-4 (chatglm-bpe): qwen2's regex with \p{N}{1,3} for \p{N}:
 * (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t m_glm4(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    return pt_qwen2_with(t, s, p, end, m_num13);
}

/* GPT-4o's letters: "upper" is a letter outside a-z, "lower" a letter outside A-Z (so every
 * letter beyond ASCII is both). */
static bool cl_gpt4o_upper(const struct pt_text *t, size_t i)
{
    return rx_L(t, i) && !(t->cp[i] >= 'a' && t->cp[i] <= 'z');
}

static bool cl_gpt4o_lower(const struct pt_text *t, size_t i)
{
    return rx_L(t, i) && !(t->cp[i] >= 'A' && t->cp[i] <= 'Z');
}

/* (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])? at p: its length. */
static size_t pt_opt_contraction(const struct pt_text *t, size_t p, size_t end)
{
    if (p + 1 >= end || t->cp[p] != '\'')
        return 0;
    const uint32_t a = t->cp[p + 1] | 0x20, b = p + 2 < end ? t->cp[p + 2] | 0x20 : 0;
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* One word of GPT-4o's two letter branches at q (after the optional lead):
 *   upper* lower+ contraction?   (upper* gives back letters until lower+ can match), else
 *   upper+ lower* contraction? */
static size_t pt_gpt4o_word(const struct pt_text *t, size_t q, size_t end)
{
    const size_t nu = pt_run(t, q, end, cl_gpt4o_upper);
    for (size_t k = nu + 1; k-- > 0;) {
        const size_t nl = pt_run(t, q + k, end, cl_gpt4o_lower);
        if (nl)
            return k + nl + pt_opt_contraction(t, q + k + nl, end);
    }
    if (!nu)
        return 0;
    const size_t nl = pt_run(t, q + nu, end, cl_gpt4o_lower);
    return nu + nl + pt_opt_contraction(t, q + nu + nl, end);
}

/* GPT-4o (o200k), as llama.cpp runs it:
 * [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|...|'[dD])?|
 * [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|...|'[dD])?|
 * \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * (the [\r\n/]* tail differs from [\r\n]* in nothing: '/' is already in the run before) */
static size_t m_gpt4o(const struct pt_text *t, size_t s, size_t p, size_t end)
{
    size_t n;
    if (cl_not_crlf_L_N(t, p) && p + 1 < end && (n = pt_gpt4o_word(t, p + 1, end)))
        return 1 + n;
    if ((n = pt_gpt4o_word(t, p, end)))
        return n;
    if ((n = m_num13(t, s, p, end)))
        return n;
    if ((n = pt_opt_space_run_crlf(t, p, end, cl_not_space_L_N)))
        return n;
    return pt_match_space_tail(t, p, end, true);
}

/* ---- the table: pre type -> its regexes, in llama.cpp's order ---- */

struct pt_step {
    pt_custom_fn custom; /* one of llama.cpp's own splitters, or */
    pt_match_fn match;   /* a regex it runs through std::regex */
};

enum { PT_MAX_STEPS = 6 };

static const struct pt_step pt_steps[PRETOK_COUNT][PT_MAX_STEPS] = {
    [PRETOK_DEFAULT] = {{.match = m_punct_default}, {.custom = pc_gpt2}, {.match = m_num_plus},
                        {.match = m_digit3}},
    [PRETOK_GPT2] = {{.custom = pc_gpt2}},
    [PRETOK_LLAMA3] = {{.custom = pc_llama3}},
    [PRETOK_QWEN2] = {{.match = m_qwen2}},
    [PRETOK_DEEPSEEK_LLM] = {{.match = m_crlf}, {.match = m_dsl_letters}, {.match = m_dsl_punct},
                             {.match = m_space_eol}, {.match = m_dsl_cjk}, {.match = m_num_plus}},
    [PRETOK_DEEPSEEK_CODER] = {{.match = m_crlf}, {.match = m_space_letters},
                               {.match = m_space_punct}, {.match = m_dsl_cjk}, {.match = m_num1}},
    [PRETOK_DEEPSEEK3] = {{.match = m_num13}, {.match = m_ds3_cjk}, {.match = m_ds3}},
    [PRETOK_FALCON] = {{.match = m_punct_falcon}, {.custom = pc_gpt2}, {.match = m_digit3}},
    [PRETOK_STARCODER] = {{.match = m_num1}, {.custom = pc_gpt2}},
    [PRETOK_GLM4] = {{.match = m_glm4}},
    [PRETOK_GPT4O] = {{.match = m_gpt4o}},
};

size_t pretok_split(enum pretok_type type, const uint32_t *cp, const uint8_t *cls, size_t n,
                    size_t *lens, size_t *scratch)
{
    if (n == 0)
        return 0;
    struct pt_text t = {cp, cls, n};
    /* Alternate between the two buffers so the result ends in lens. */
    int n_steps = 0;
    while (n_steps < PT_MAX_STEPS && (pt_steps[type][n_steps].custom || pt_steps[type][n_steps].match))
        n_steps++;
    size_t *cur = (n_steps % 2) ? scratch : lens, *next = (n_steps % 2) ? lens : scratch;
    cur[0] = n;
    size_t count = 1;
    for (int i = 0; i < n_steps; i++) {
        const struct pt_step *st = &pt_steps[type][i];
        count = st->custom ? pt_split_custom(&t, cur, count, next, st->custom)
                           : pt_split_regex(&t, cur, count, next, st->match);
        size_t *tmp = cur;
        cur = next;
        next = tmp;
    }
    return count;
}

/* llama-vocab.cpp's names for the types above, with what each sets. */
static const struct pretok_info pt_names[] = {
    {"default", PRETOK_DEFAULT, true, false, false},
    {"llama3", PRETOK_LLAMA3, true, true, true},
    {"llama-v3", PRETOK_LLAMA3, true, true, true},
    {"llama-bpe", PRETOK_LLAMA3, true, true, true},
    {"falcon3", PRETOK_LLAMA3, true, true, true},
    {"deepseek-llm", PRETOK_DEEPSEEK_LLM, false, false, false},
    {"deepseek-coder", PRETOK_DEEPSEEK_CODER, false, false, false},
    {"deepseek-v3", PRETOK_DEEPSEEK3, false, false, false},
    {"falcon", PRETOK_FALCON, true, false, false},
    {"mpt", PRETOK_GPT2, true, false, false},
    {"starcoder", PRETOK_STARCODER, true, false, false},
    {"gpt-2", PRETOK_GPT2, true, false, false},
    {"phi-2", PRETOK_GPT2, true, false, false},
    {"jina-es", PRETOK_GPT2, true, false, false},
    {"jina-de", PRETOK_GPT2, true, false, false},
    {"gigachat", PRETOK_GPT2, true, false, false},
    {"jina-v1-en", PRETOK_GPT2, true, false, false},
    {"jina-v2-es", PRETOK_GPT2, true, false, false},
    {"jina-v2-de", PRETOK_GPT2, true, false, false},
    {"jina-v2-code", PRETOK_GPT2, true, false, false},
    {"roberta-bpe", PRETOK_GPT2, true, false, false},
    {"refact", PRETOK_STARCODER, true, false, false},
    {"command-r", PRETOK_STARCODER, false, false, false},
    {"qwen2", PRETOK_QWEN2, false, false, false},
    {"stablelm2", PRETOK_QWEN2, true, false, false},
    {"olmo", PRETOK_GPT2, true, false, false},
    {"dbrx", PRETOK_LLAMA3, true, false, false},
    {"smaug-bpe", PRETOK_LLAMA3, true, false, false},
    {"jais", PRETOK_GPT2, true, false, false},
    {"smollm", PRETOK_STARCODER, false, false, false},
    {"codeshell", PRETOK_STARCODER, true, false, false},
    {"exaone", PRETOK_STARCODER, true, false, false},
    {"minerva-7b", PRETOK_STARCODER, true, false, false},
    {"megrez", PRETOK_QWEN2, true, false, false},
    {"glm4", PRETOK_GLM4, true, false, false},
    {"chatglm-bpe", PRETOK_GLM4, true, false, false},
    {"gpt-4o", PRETOK_GPT4O, false, false, false},
    {"llama4", PRETOK_GPT4O, false, false, false},
};

const struct pretok_info *pretok_find(const char *name)
{
    if (!name[0])
        return &pt_names[0];
    for (size_t i = 0; i < PT_N(pt_names); i++)
        if (strcmp(pt_names[i].name, name) == 0)
            return &pt_names[i];
    return NULL;
}

const char *pretok_names(void)
{
    return "default, gpt-2, llama3 (llama-bpe), qwen2, deepseek-llm, deepseek-coder, "
           "deepseek-v3, falcon, starcoder, mpt, olmo, refact, dbrx, glm4, gpt-4o (and their "
           "aliases)";
}
