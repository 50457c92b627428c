// A tiny allocator wrapper library: the target of the library-unmap test.
#include <stdlib.h>

__attribute__((noinline)) void *wrap_malloc(size_t n)
{
	return malloc(n);
}

__attribute__((noinline)) void wrap_free(void *p)
{
	free(p);
}
