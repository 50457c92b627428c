/* threadexit N: once a line is read from stdin, starts N threads one after
 * another, each ending at once, and joins each. Every thread's last
 * switch-out is a task that will never run again (TASK_DEAD) and whose
 * memory is gone (exit_mm): the off-CPU probe must not walk its stack. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *quit(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 64;
	char line[16];
	pthread_t t;

	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < n; i++) {
		if (pthread_create(&t, NULL, quit, NULL) || pthread_join(t, NULL))
			return 1;
	}
	return 0;
}
