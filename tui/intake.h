/* tui/intake.h: the worker's news taken in on the UI thread (intake.c). */
#ifndef MOESCOPE_INTAKE_H
#define MOESCOPE_INTAKE_H

struct app;
/* Takes what the worker posted (records, status, the reply so far, a finished job) and
 * turns it into conversation and inspector changes and dirty bits. Never blocks longer
 * than a copy. */
void intake_pump(struct app *a);

#endif
