/* spawn RATE SECONDS PROGRAM: starts PROGRAM (no arguments) RATE times a
 * second for SECONDS, reaping the children as they exit, and prints how
 * many it started. Paced against a deadline per child, so a slow moment is
 * caught up rather than lost. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	double rate = atof(argv[1]), secs = atof(argv[2]);
	char *args[] = {argv[3], NULL};
	double start = now();
	long started = 0;

	while (now() - start < secs) {
		double due = start + started / rate;
		pid_t pid;

		while (now() < due) {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
		}
		if (posix_spawn(&pid, argv[3], NULL, NULL, args, environ) == 0)
			started++;
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
	while (wait(NULL) > 0)
		;
	printf("%ld\n", started);
	return 0;
}
