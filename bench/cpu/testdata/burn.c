/* CPU-bound workload for the overhead benchmark: spins for argv[1] seconds
 * and prints how many rounds of work it completed. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static __attribute__((noinline)) void work(void)
{
	for (int i = 0; i < 10000; i++)
		sink += i * 7;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10;
	struct timespec start, now;
	unsigned long rounds = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		for (int i = 0; i < 100; i++)
			work();
		rounds += 100;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 >= secs)
			break;
	}
	printf("%lu\n", rounds);
	return 0;
}
