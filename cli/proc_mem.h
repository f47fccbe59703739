/* cli/proc_mem.h: this process's resident memory, as bench and compare report it. */
#ifndef MOESCOPE_PROC_MEM_H
#define MOESCOPE_PROC_MEM_H

/* Starts VmHWM afresh from the current RSS (Linux 4.0 on; elsewhere the peak stays). */
void proc_mem_reset_peak(void);
/* VmRSS and VmHWM of this process, in KiB (0 when /proc is not there). */
void proc_mem_rss(long *rss_kb, long *hwm_kb);

#endif
