// Allocates known byte totals from known functions, for the allocation
// profiler's tests. Every step waits for a line on stdin so the test can
// collect in between; EOF on stdin ends the program.
//
//   alloc      wait, alloc_a + alloc_b + alloc_c, print "done", wait for EOF
//   spin       malloc/free in a loop until stdin is closed
//   exec PATH  print "ready", wait, execv(PATH)
//   cexec N [PATH ARGS...]
//              print "ready", wait, alloc_c N times, print "done", then
//              execv(PATH) if given, else wait for EOF
//   dl LIB     dlopen LIB, print "loaded", wait, call wrap_malloc 100 times
//              (1000 bytes each, kept), print "allocated", wait, dlclose,
//              print "closed", wait for EOF
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KiB 1024UL
#define MiB (1024UL * 1024UL)

static void *keep[1 << 17];
static int nkeep;

static void wait_line(void)
{
	char c;

	while (read(0, &c, 1) == 1)
		if (c == '\n')
			return;
	exit(0);
}

static void say(const char *s)
{
	write(1, s, strlen(s));
}

/* 256 MiB in 4 KiB blocks; keeps one in four (64 MiB). */
__attribute__((noinline)) void alloc_a(void)
{
	for (unsigned long i = 0; i < 256 * MiB / (4 * KiB); i++) {
		char *p = malloc(4 * KiB);

		p[0] = 1;
		if (i % 4 == 0)
			keep[nkeep++] = p;
		else
			free(p);
	}
}

/* 64 MiB in 1 KiB blocks; frees all. */
__attribute__((noinline)) void alloc_b(void)
{
	for (unsigned long i = 0; i < 64 * MiB / KiB; i++) {
		char *p = malloc(KiB);

		p[0] = 1;
		free(p);
	}
}

/* 1000 x (calloc 1 KiB, realloc to 2 KiB kept, posix_memalign 512 freed):
 * 3000 allocations, 3,584,000 bytes, 1000 blocks of 2 KiB in use. */
__attribute__((noinline)) void alloc_c(void)
{
	for (int i = 0; i < 1000; i++) {
		char *p = calloc(4, 256);
		void *r;

		p = realloc(p, 2 * KiB);
		keep[nkeep++] = p;
		if (posix_memalign(&r, 64, 512) == 0)
			free(r);
	}
}

__attribute__((noinline)) void spin(void)
{
	fcntl(0, F_SETFL, O_NONBLOCK);
	for (;;) {
		char c;
		char *p = malloc(100);

		p[0] = 1;
		free(p);
		if (read(0, &c, 1) == 0)
			exit(0);
		usleep(1000);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "alloc")) {
		wait_line();
		alloc_a();
		alloc_b();
		alloc_c();
		say("done\n");
		wait_line();
	} else if (!strcmp(argv[1], "spin")) {
		spin();
	} else if (!strcmp(argv[1], "exec") && argc > 2) {
		say("ready\n");
		wait_line();
		execv(argv[2], argv + 2);
		return 3;
	} else if (!strcmp(argv[1], "cexec") && argc > 2) {
		say("ready\n");
		wait_line();
		for (int i = atoi(argv[2]); i > 0; i--)
			alloc_c();
		say("done\n");
		if (argc > 3) {
			execv(argv[3], argv + 3);
			return 3;
		}
		wait_line();
	} else if (!strcmp(argv[1], "dl") && argc > 2) {
		void *h = dlopen(argv[2], RTLD_NOW);
		void *(*wrap_malloc)(size_t);

		if (!h)
			return 4;
		wrap_malloc = (void *(*)(size_t))dlsym(h, "wrap_malloc");
		say("loaded\n");
		wait_line();
		for (int i = 0; i < 100; i++)
			keep[nkeep++] = wrap_malloc(1000);
		say("allocated\n");
		wait_line();
		dlclose(h);
		say("closed\n");
		wait_line();
	}
	return 0;
}
