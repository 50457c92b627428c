/* burn MS [PROGRAM ARGS...]: burns CPU in one known function for MS
 * milliseconds of its own CPU time (so a busy machine stretches its life
 * rather than thinning its samples), then execs PROGRAM (same pid) if
 * given. Built
 * twice with different BURN names so that an exec changes the function. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifndef BURN
#define BURN burn_cpu
#endif

volatile unsigned long sink;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) void BURN(long ms)
{
	long long end = now_ns() + ms * 1000000LL;

	while (now_ns() < end)
		for (int i = 0; i < 100000; i++)
			sink += i;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	BURN(atol(argv[1]));
	if (argc > 2) {
		execv(argv[2], argv + 2);
		return 1;
	}
	return 0;
}
