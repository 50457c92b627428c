// A malloc-heavy workload: many small mallocs and frees (sizes 16..1039
// bytes from a fixed pseudo-random sequence, 4096 live blocks in a ring),
// with -w WORK iterations of arithmetic between two allocations to model a
// program that computes between them. Waits for a line on stdin, runs OPS
// allocations, prints the elapsed nanoseconds and exits.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define RING 4096

static void *ring[RING];

__attribute__((noinline)) static unsigned long work(unsigned long x, long n)
{
	for (long i = 0; i < n; i++)
		x = x * 6364136223846793005UL + 1442695040888963407UL;
	return x;
}

int main(int argc, char **argv)
{
	long ops = argc > 1 ? atol(argv[1]) : 1000000;
	long w = argc > 2 ? atol(argv[2]) : 0;
	unsigned long x = 42;
	struct timespec a, b;
	char c;

	if (read(0, &c, 1) != 1)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < ops; i++) {
		char *p;

		x = x * 6364136223846793005UL + 1442695040888963407UL;
		p = malloc(16 + ((x >> 33) & 1023));
		p[0] = (char)i;
		free(ring[i % RING]);
		ring[i % RING] = p;
		if (w)
			x = work(x, w);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%lld %lu\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec), x & 1);
	return 0;
}
