/* samesp N MS: blocks in sleep_here, a nanosleep with the syscall inline,
 * called through via_a and via_b, which have the same frame, from the same
 * depth of main: the syscall's ip, sp and bp are the same whichever calls
 * it, and only the return address in sleep_here's frame tells the two
 * apart. A task's last walk must not be reused for the other caller.
 * Phases are asked for on stdin, one line each: "a" calls via_a N times
 * for 2 ms, "b" via_b once for MS; each ends with a line on stdout, the rsp
 * of its syscalls. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

unsigned long sp_seen;

__attribute__((noinline)) long sleep_here(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	unsigned long sp;
	long ret;

	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	sp_seen = sp;
	/* nanosleep(&ts, NULL) */
	__asm__ volatile("syscall" : "=a"(ret) : "0"(35L), "D"(&ts), "S"(0L) : "rcx", "r11", "memory");
	return ret;
}

__attribute__((noinline)) long via_a(long ms)
{
	return sleep_here(ms);
}

__attribute__((noinline)) long via_b(long ms)
{
	return sleep_here(ms);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 25;
	long ms = argc > 2 ? atol(argv[2]) : 50;
	char line[16];

	while (fgets(line, sizeof(line), stdin)) {
		if (line[0] == 'b')
			via_b(ms);
		else
			for (int i = 0; i < n; i++)
				via_a(2);
		printf("%lx\n", sp_seen);
		fflush(stdout);
	}
	return 0;
}
