/* The program the interop tests profile: known functions of its own (built
 * with frame pointers, as the test producers unwind with them) and time in
 * libc, whose DWARF is in its separate debug file (libc6-dbg). */
#include <stdio.h>
#include <string.h>

static char buf[1 << 20];
volatile unsigned long sink;

__attribute__((noinline)) unsigned long interop_inner(unsigned long n)
{
	unsigned long s = 0;
	for (unsigned long i = 0; i < n; i++)
		s += i * i % 7;
	return s;
}

__attribute__((noinline)) unsigned long interop_outer(unsigned long n)
{
	return interop_inner(n) + 1;
}

__attribute__((noinline)) void interop_libc(void)
{
	memset(buf, 'a', sizeof buf - 1);
	sink += strlen(buf);
}

int main(void)
{
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		sink += interop_outer(200000);
		interop_libc();
	}
}
