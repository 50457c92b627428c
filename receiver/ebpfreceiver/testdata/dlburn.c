/* dlburn LIB MS: once a byte arrives on stdin, dlopens LIB, then burns MS
 * milliseconds of CPU in its burn_lib and exits: a process whose library
 * is mapped well after its exec (and the receiver's exec-time read of it)
 * and that is gone before the next collection. */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	void (*burn)(long);
	void *h;

	char c;

	if (argc < 3 || read(0, &c, 1) != 1)
		return 2;
	h = dlopen(argv[1], RTLD_NOW);
	if (!h)
		return 3;
	burn = (void (*)(long))dlsym(h, "burn_lib");
	if (!burn)
		return 4;
	burn(atol(argv[2]));
	return 0;
}
