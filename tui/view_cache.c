/* tui/view_cache.c: the aggregates the views keep across frames (views.h). */
#include "views.h"

void view_cache_free(struct view_cache *c)
{
    trace_load_cache_free(&c->load);
    c->speed = (struct trace_speed_cache){ 0 };
}
