// Statically linked: maps no shared C library. Waits for EOF on stdin.
#include <unistd.h>

int main(void)
{
	char c;

	while (read(0, &c, 1) == 1)
		;
	return 0;
}
