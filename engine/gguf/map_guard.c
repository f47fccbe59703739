/* engine/gguf/map_guard.c: a model file that changes under its mapping (gguf.h,
 * gguf_changed).
 *
 * Reading a page of a mapped file that was truncated (or rewritten by a copy in place)
 * raises SIGBUS in whichever thread touched it; by default that ends the process. The
 * handler here looks at the faulting address: inside a watched mapping, it maps anonymous
 * zero pages over the whole mapping (so the instruction, run again, reads zeros, and every
 * thread of the pool finishes its step) and marks the mapping changed; the engine checks the
 * mark after each step and stops with one line. Anything else goes to the action that was
 * there before (the app's terminal restore, or the default). */
#include "gguf.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

enum { MAP_GUARD_SLOTS = 16 };

static struct {
    _Atomic uintptr_t base;
    _Atomic size_t size;
    volatile sig_atomic_t changed;
} map_slots[MAP_GUARD_SLOTS];

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction map_prev;   /* the SIGBUS action from before */

static void map_on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    uintptr_t a = (uintptr_t)si->si_addr;
    if (si->si_code > 0) {   /* a fault of this process, not a kill */
        for (int i = 0; i < MAP_GUARD_SLOTS; i++) {
            uintptr_t base = atomic_load(&map_slots[i].base);
            size_t size = atomic_load(&map_slots[i].size);
            if (!base || a < base || a - base >= size)
                continue;
            void *p = mmap((void *)base, size, PROT_READ,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (p != MAP_FAILED) {
                map_slots[i].changed = 1;
                return;
            }
        }
    }
    /* Not a watched mapping: the action from before takes this signal (a fault runs again
     * and raises it anew; a signal sent by kill is raised again). */
    sigaction(SIGBUS, &map_prev, NULL);
    if (si->si_code <= 0)
        raise(sig);
}

int gguf_map_watch(const void *base, size_t size)
{
    pthread_mutex_lock(&map_lock);
    /* (Again whenever another handler took SIGBUS since: the app installs its own after a
     * first file was read; that one becomes the action this one passes other faults to.) */
    struct sigaction cur;
    if (sigaction(SIGBUS, NULL, &cur) == 0 &&
        !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == map_on_sigbus)) {
        struct sigaction sa;
        sa.sa_sigaction = map_on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, NULL) == 0)
            map_prev = cur;
    }
    int slot = -1;
    for (int i = 0; i < MAP_GUARD_SLOTS && slot < 0; i++)
        if (!atomic_load(&map_slots[i].base)) {
            map_slots[i].changed = 0;
            atomic_store(&map_slots[i].size, size);
            atomic_store(&map_slots[i].base, (uintptr_t)base);
            slot = i;
        }
    pthread_mutex_unlock(&map_lock);
    return slot;
}

void gguf_map_unwatch(int slot)
{
    if (slot < 0 || slot >= MAP_GUARD_SLOTS)
        return;
    pthread_mutex_lock(&map_lock);
    atomic_store(&map_slots[slot].base, 0);
    atomic_store(&map_slots[slot].size, 0);
    pthread_mutex_unlock(&map_lock);
}

bool gguf_map_changed(int slot)
{
    return slot >= 0 && slot < MAP_GUARD_SLOTS && map_slots[slot].changed;
}
