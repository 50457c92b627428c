/* A shared library built without frame pointers: the chain crosses into
 * it and back (lib_outer -> callback in the program -> lib_inner). */
#include <stdint.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

volatile uint64_t lib_sink;
/* Set by the program: sleep in the leaf instead of spinning. */
int lib_block;

NOINLINE uint64_t lib_inner(uint64_t n)
{
	uint64_t x = n;

	if (lib_block) {
		usleep(1000);
		return n;
	}

	for (uint64_t i = 0; i < 20000000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	lib_sink = x;
	return x + 1;
}

NOINLINE uint64_t lib_outer(uint64_t (*cb)(uint64_t), uint64_t n)
{
	volatile char pad[64];

	pad[n % 64] = 1;
	return cb(n + pad[n % 64]) + 2;
}
