/* Switch-heavy load: two processes bounce a byte over a pair of pipes for
 * argv[1] seconds; every round trip is at least two context switches.
 * argv[2], if given, paces it to that many round trips per second (sleeping
 * every millisecond's share away); 0 or absent: as fast as possible.
 * Prints the number of round trips. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10;
	double rate = argc > 2 ? atof(argv[2]) : 0;
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
		++trips;
		if (rate > 0 && trips % (unsigned long)(rate / 1000 + 1) == 0) {
			/* Sleep until this trip's time in the paced schedule. */
			double due = trips / rate;
			clock_gettime(CLOCK_MONOTONIC, &now);
			double el = now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9;
			if (el >= secs)
				break;
			if (due > el) {
				struct timespec d = { (time_t)(due - el), (long)((due - el - (time_t)(due - el)) * 1e9) };
				nanosleep(&d, NULL);
			}
		} else if (trips % 1024 == 0) {
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
