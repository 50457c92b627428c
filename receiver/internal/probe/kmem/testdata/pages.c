// Maps and touches 64 MiB of anonymous memory (page faults allocate the
// pages), prints "done" and waits for EOF on stdin.
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	size_t n = 64UL << 20;
	char c, *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < n; i += 4096)
		p[i] = 1;
	write(1, "done\n", 5);
	while (read(0, &c, 1) == 1)
		;
	return 0;
}
