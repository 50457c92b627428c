/* A shared library built without frame pointers: the chain crosses into
 * it and back (lib_outer -> callback in the program -> lib_inner). */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

volatile uint64_t lib_sink;
/* Set by the program: 'b' sleep in the leaf, 'a' allocate, else spin. */
char lib_mode;

NOINLINE uint64_t lib_inner(uint64_t n)
{
	uint64_t x = n;

	if (lib_mode == 'b') {
		usleep(1000);
		return n;
	}
	if (lib_mode == 'a') {
		for (int i = 0; i < 1000; i++) {
			void *p = malloc(4096 + i % 64);

			lib_sink += (uintptr_t)p;
			free(p);
		}
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
