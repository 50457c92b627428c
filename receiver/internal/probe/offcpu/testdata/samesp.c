/* samesp N MS: blocks in sleep_here, a nanosleep with the syscall inline,
 * called through via_a and via_b, which have the same frame, from the same
 * depth of main: the syscall's ip, sp and bp are the same whichever calls
 * it, and only the return address in sleep_here's frame tells the two
 * apart. A task's last walk must not be reused for the other caller.
 * After two warm-up sleeps (the unwinder reads the process during the first
 * and builds the tables the second's walk asked for): via_a N times for 2 ms, via_b once for MS, via_a N
 * times again. Prints the rsp of via_a's and via_b's syscalls. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <time.h>

unsigned long sp_seen[2];

__attribute__((noinline)) long sleep_here(long ms, int which)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	unsigned long sp;
	long ret;

	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	sp_seen[which] = sp;
	/* nanosleep(&ts, NULL) */
	__asm__ volatile("syscall" : "=a"(ret) : "0"(35L), "D"(&ts), "S"(0L) : "rcx", "r11", "memory");
	return ret;
}

__attribute__((noinline)) long via_a(long ms)
{
	return sleep_here(ms, 0);
}

__attribute__((noinline)) long via_b(long ms)
{
	return sleep_here(ms, 1);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 25;
	long ms = argc > 2 ? atol(argv[2]) : 400;

	usleep(500000);
	usleep(300000);
	for (int i = 0; i < n; i++)
		via_a(2);
	via_b(ms);
	for (int i = 0; i < n; i++)
		via_a(2);
	printf("%lx %lx\n", sp_seen[0], sp_seen[1]);
	return 0;
}
