/* tui/keys.h: the keys (keys.c). */
#ifndef MOESCOPE_KEYS_H
#define MOESCOPE_KEYS_H

struct app;
/* Reads every key waiting and runs what each one means. */
void keys_read(struct app *a);

#endif
