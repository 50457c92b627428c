/* twoblocks MS: one splice(2) call that blocks twice in its body, each time
 * for at least MS milliseconds, with the syscall instruction inline so the
 * user stack's leaf is splice_here: first waiting for data on pipe a, then
 * for room in pipe b (filled beforehand). Then a user-mode loop (spin_here)
 * is stopped with SIGSTOP for at least MS: a block outside any syscall.
 * A child drives it, and starts each MS only once the parent is seen
 * waiting where it should (/proc/PID/wchan, or stopped), so that a loaded
 * machine delaying the parent cannot shorten a block. The child ends the
 * parent with SIGKILL. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

/* wait_for waits until task pid waits in function wchan, or is stopped
 * when wchan is NULL; on a 10 s timeout it kills pid (which would
 * otherwise wait forever) and exits. */
static void wait_for(pid_t pid, const char *wchan)
{
	char path[64], buf[512];

	for (int i = 0; i < 10000; i++) {
		int fd, n;

		snprintf(path, sizeof(path), "/proc/%d/%s", pid, wchan ? "wchan" : "stat");
		fd = open(path, O_RDONLY);
		n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = 0;
			if (wchan ? strcmp(buf, wchan) == 0 : strstr(buf, ") T ") != NULL)
				return;
		}
		struct timespec ts = { 0, 1000000L };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	_exit(2);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

__attribute__((noinline)) long splice_here(int in, int out, long len)
{
	register long off_out __asm__("r10") = 0;
	register long n __asm__("r8") = len;
	register long flags __asm__("r9") = 0;
	long ret;

	/* splice(in, NULL, out, NULL, len, 0) */
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(275L /* __NR_splice on x86_64 */), "D"((long)in), "S"(0L), "d"((long)out),
			   "r"(off_out), "r"(n), "r"(flags)
			 : "rcx", "r11", "memory");
	return ret;
}

volatile unsigned long spins;

__attribute__((noinline)) void spin_here(void)
{
	for (;;)
		spins++;
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 100;
	int a[2], b[2];
	char buf[4096];
	pid_t parent = getpid(), child;

	if (pipe(a) || pipe(b))
		return 1;
	memset(buf, 'x', sizeof(buf));
	/* Fill b so that moving anything into it must wait for room. */
	fcntl(b[1], F_SETFL, O_NONBLOCK);
	while (write(b[1], buf, sizeof(buf)) > 0)
		;
	fcntl(b[1], F_SETFL, 0);
	child = fork();
	if (child == 0) {
		wait_for(parent, "pipe_wait_readable");
		sleep_ms(ms);
		if (write(a[1], buf, 1) != 1)
			_exit(1);
		wait_for(parent, "pipe_wait_writable");
		sleep_ms(ms);
		/* One page out of b: room for the splice. */
		if (read(b[0], buf, sizeof(buf)) != sizeof(buf))
			_exit(1);
		sleep_ms(ms / 2);
		kill(parent, SIGSTOP);
		wait_for(parent, NULL);
		sleep_ms(ms);
		kill(parent, SIGCONT);
		sleep_ms(ms / 2);
		kill(parent, SIGKILL);
		_exit(0);
	}
	if (splice_here(a[0], b[1], 1) != 1)
		return 1;
	spin_here();
	return 0;
}
