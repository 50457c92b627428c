// Makes exactly N getcpu calls, N failing openat calls (ENOENT) and N calls
// of syscall number 600, which does not exist (ENOSYS), once anything
// arrives on stdin (one byte will do: the receiver's identity tests send
// one), so the tracer can attach first. "go A B" instead makes N calls
// of the (nonexistent) numbers A and B, alternating. Built static so no
// dynamic loader opens files at startup. "signal" makes N calls of
// rt_sigreturn instead: N signals raised, each handler returning through it.
// "errnos" makes 2N failing openat calls, alternating ENOENT and EBADF.
// "threads" starts N threads one after the other, each joined at once.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void handler(int sig)
{
	(void)sig;
}

static void *thread(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	unsigned cpu, node;
	char cmd[64] = "";
	long a, b, ms;

	if (read(0, cmd, sizeof(cmd) - 1) < 1)
		return 1;
	if (sscanf(cmd, "go %ld %ld", &a, &b) == 2) {
		for (int i = 0; i < n; i++) {
			syscall(a);
			syscall(b);
		}
		return 0;
	}
	if (strncmp(cmd, "signal", 6) == 0) {
		signal(SIGUSR1, handler);
		for (int i = 0; i < n; i++)
			raise(SIGUSR1);
		return 0;
	}
	if (strncmp(cmd, "errnos", 6) == 0) {
		for (int i = 0; i < n; i++) {
			syscall(SYS_openat, AT_FDCWD, "/nonexistent/ebpf-otel-test", O_RDONLY);
			syscall(SYS_openat, 12345, "relative", O_RDONLY);
		}
		return 0;
	}
	if (strncmp(cmd, "threads", 7) == 0) {
		for (int i = 0; i < n; i++) {
			pthread_t t;

			if (pthread_create(&t, NULL, thread, NULL) || pthread_join(t, NULL))
				return 1;
		}
		return 0;
	}
	if (sscanf(cmd, "sleep %ld", &ms) == 1) {
		struct timespec zero = { 0 }, t = { ms / 1000, ms % 1000 * 1000000 };

		for (int i = 0; i < n; i++)
			syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &zero, NULL);
		for (int i = 0; i < n; i++)
			syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &t, NULL);
		return 0;
	}
	for (int i = 0; i < n; i++)
		syscall(SYS_getcpu, &cpu, &node, NULL);
	for (int i = 0; i < n; i++)
		syscall(SYS_openat, AT_FDCWD, "/nonexistent/ebpf-otel-test", O_RDONLY);
	for (int i = 0; i < n; i++)
		syscall(600);
	return 0;
}
