/* cli/cli_format.c: see cli_format.h. */
#include "cli_format.h"

#include <stdio.h>

const char *cli_format_bytes(uint64_t n, char buf[32])
{
    if (n >= 1000000000ull)
        snprintf(buf, 32, "%.2f GB", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, 32, "%.2f MB", (double)n / 1e6);
    else if (n >= 1000ull)
        snprintf(buf, 32, "%.1f kB", (double)n / 1e3);
    else
        snprintf(buf, 32, "%llu B", (unsigned long long)n);
    return buf;
}
