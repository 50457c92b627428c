/* A test program for the symbolizer: known functions, built with -g. */
#include <stdio.h>
#include <unistd.h>

volatile unsigned long sink;

__attribute__((noinline)) void ebpf_otel_leaf(unsigned long n) {
	for (unsigned long i = 0; i < n; i++) sink += i;
}

__attribute__((noinline)) void ebpf_otel_middle(unsigned long n) {
	ebpf_otel_leaf(n);
	sink++;
}

int main(void) {
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		ebpf_otel_middle(1000);
		usleep(1000);
	}
}
