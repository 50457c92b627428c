/* A CPU-bound test program with known functions, built with frame pointers so
 * the kernel's frame-pointer unwinder walks it. */
#include <stdlib.h>
#include <unistd.h>

volatile unsigned long sink;

__attribute__((noinline)) void spin_leaf(void)
{
	for (int i = 0; i < 1000000; i++)
		sink += i;
}

__attribute__((noinline)) void spin_middle(void)
{
	for (;;)
		spin_leaf();
}

__attribute__((noinline)) void busy_syscalls(void)
{
	for (;;)
		getppid();
}

int main(int argc, char **argv)
{
	if (argc > 1 && argv[1][0] == 's')
		busy_syscalls();
	spin_middle();
	return 0;
}
