/* Blocks in a known function for a known total time: argv[1] sleeps of
 * argv[2] milliseconds each, made with the syscall instruction inline so the
 * user stack's leaf is block_here itself (libc has no frame pointers). */
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) void block_here(long ms)
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
		block_here(ms);
	return 0;
}
