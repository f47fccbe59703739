/* cli/cli_format.h: figures as the subcommands print them. */
#ifndef MOESCOPE_CLI_FORMAT_H
#define MOESCOPE_CLI_FORMAT_H

#include <stdint.h>

/* "14.0 MB", "1.23 GB": bytes in decimal units, into buf; returns buf. */
const char *cli_format_bytes(uint64_t n, char buf[32]);

#endif
