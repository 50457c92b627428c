/* block N MS [PROGRAM ARGS...]: blocks in a known function for a known
 * total time, N sleeps of MS milliseconds each, made with the syscall
 * instruction inline so the user stack's leaf is the function itself (libc
 * has no frame pointers); then execs PROGRAM (same pid) if given. Built
 * with different BLOCK names so that an exec changes the function. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifndef BLOCK
#define BLOCK block_here
#endif

__attribute__((noinline)) void BLOCK(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(35 /* __NR_nanosleep on x86_64 */), "D"(&ts), "S"(0)
			 : "rcx", "r11", "memory");
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20;
	long ms = argc > 2 ? atol(argv[2]) : 100;

	for (int i = 0; i < n; i++)
		BLOCK(ms);
	if (argc > 3) {
		execv(argv[3], argv + 3);
		return 1;
	}
	return 0;
}
