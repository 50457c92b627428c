/* Switch-heavy load: two processes bounce a byte over a pair of pipes for
 * argv[1] seconds; every round trip is at least two context switches.
 * Prints the number of round trips. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10;
	int a[2], b[2];
	char c = 0;
	unsigned long trips = 0;
	struct timespec start, now;

	if (pipe(a) || pipe(b))
		return 1;
	if (fork() == 0) {
		/* Only the parent writes to a and reads b: the child must not keep
		 * those ends open, or it never sees EOF and never exits. */
		close(a[1]);
		close(b[0]);
		while (read(a[0], &c, 1) == 1)
			if (write(b[1], &c, 1) != 1)
				break;
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			return 1;
		if (++trips % 1024 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 >= secs)
				break;
		}
	}
	close(a[1]);
	wait(NULL);
	printf("%lu\n", trips);
	return 0;
}
