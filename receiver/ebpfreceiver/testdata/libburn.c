/* The library dlburn loads: burns CPU for ms milliseconds of its own CPU
 * time in burn_lib. */
#include <time.h>

volatile unsigned long sink;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) void burn_lib(long ms)
{
	long long end = now_ns() + ms * 1000000LL;

	while (now_ns() < end)
		for (int i = 0; i < 100000; i++)
			sink += i;
}
