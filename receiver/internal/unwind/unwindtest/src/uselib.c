/* main -> app_level1 -> app_level2 -> lib_outer (libchain.so) ->
 * app_callback -> lib_inner (libchain.so), without frame pointers. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

uint64_t lib_outer(uint64_t (*cb)(uint64_t), uint64_t n);
uint64_t lib_inner(uint64_t n);
extern char lib_mode;

volatile uint64_t sink;

NOINLINE uint64_t app_callback(uint64_t n)
{
	volatile uint64_t pad[5] = {n};

	return lib_inner(pad[0]) + 3;
}

NOINLINE uint64_t app_level2(uint64_t n)
{
	return lib_outer(app_callback, n ^ 3) + 2;
}

NOINLINE uint64_t app_level1(uint64_t n)
{
	volatile char pad[24];

	pad[n % 24] = 0;
	return app_level2(n + pad[n % 24]) + 1;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	lib_mode = argc > 2 ? argv[2][0] : 0;
	struct timespec start, now;

	/* Wait for the test to close stdin: it registers the process first
	 * (the receiver's process tracking does that at exec). */
	char c;
	while (read(0, &c, 1) > 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (uint64_t n = 0;; n++) {
		sink += app_level1(n);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds)
			break;
	}
	return 0;
}
