/* A call chain six deep, built without frame pointers: main -> level1 ->
 * ... -> level5 -> spin. Each level keeps a different amount of stack so the
 * unwinder has to follow a different CFA rule in each. Runs for argv[1]
 * seconds (default 5); argv[2] "block" or "alloc" changes what the leaf
 * does. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

volatile uint64_t sink;
/* argv[2] "block": the leaf sleeps instead of spinning (off-CPU tests);
 * "alloc": it allocates and frees (allocation profiler tests). */
char mode;

NOINLINE uint64_t spin(uint64_t n)
{
	uint64_t x = n;

	if (mode == 'b') {
		usleep(1000);
		return n;
	}
	if (mode == 'a') {
		for (int i = 0; i < 1000; i++) {
			void *p = malloc(4096 + i % 64);

			sink += (uintptr_t)p;
			free(p);
		}
		return n;
	}

	for (uint64_t i = 0; i < 20000000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
	return x;
}

NOINLINE uint64_t level5(uint64_t n)
{
	volatile char pad[40];

	pad[n % 40] = (char)n;
	return spin(n + pad[n % 40]) + 5;
}

NOINLINE uint64_t level4(uint64_t n)
{
	volatile uint64_t pad[3] = {n, n + 1, n + 2};

	return level5(pad[n % 3]) * 3 + 4;
}

NOINLINE uint64_t level3(uint64_t n)
{
	return level4(n ^ 7) + 3;
}

NOINLINE uint64_t level2(uint64_t n)
{
	volatile char big[300];

	big[n % 300] = 1;
	return level3(n + big[n % 300]) + 2;
}

NOINLINE uint64_t level1(uint64_t n)
{
	return level2(n * 2) + 1;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	mode = argc > 2 ? argv[2][0] : 0;
	struct timespec start, now;

	/* Wait for the test to close stdin: it registers the process first
	 * (the receiver's process tracking does that at exec). */
	char c;
	while (read(0, &c, 1) > 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (uint64_t n = 0;; n++) {
		sink += level1(n);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds)
			break;
	}
	return 0;
}
