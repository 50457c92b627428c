// A C++ call chain built without frame pointers in which exceptions are
// thrown and caught on the way (landing pads, cleanup code, remember_state
// in the CFI): main -> Outer::run -> middle -> inner -> thrower -> spin.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#define NOINLINE __attribute__((noinline))

volatile uint64_t sink;
// argv[2] "block": sleep in the leaf (off-CPU tests); "alloc": allocate.
static char mode;

NOINLINE uint64_t spin(uint64_t n)
{
	uint64_t x = n;
	if (mode == 'b') {
		usleep(1000);
		return n;
	}
	if (mode == 'a') {
		for (int i = 0; i < 1000; i++) {
			void *p = std::malloc(4096 + i % 64);
			sink += reinterpret_cast<uintptr_t>(p);
			std::free(p);
		}
		return n;
	}
	for (uint64_t i = 0; i < 20000000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	sink = x;
	return x;
}

NOINLINE uint64_t thrower(uint64_t n)
{
	uint64_t v = spin(n);
	if (n % 4 == 0)
		throw std::runtime_error("every fourth " + std::to_string(n));
	return v;
}

NOINLINE uint64_t inner(uint64_t n)
{
	std::vector<uint64_t> held(n % 7 + 1, n);
	return thrower(held.back()) + held.size();
}

NOINLINE uint64_t middle(uint64_t n)
{
	try {
		return inner(n) + 2;
	} catch (const std::runtime_error &e) {
		return e.what()[0];
	}
}

struct Outer {
	std::string name = "outer";
	NOINLINE uint64_t run(uint64_t n) { return middle(n + name.size()) + 1; }
};

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? std::atof(argv[1]) : 5;
	mode = argc > 2 ? argv[2][0] : 0;
	// Wait for the test to close stdin (see chain.c).
	char c;
	while (read(0, &c, 1) > 0)
		;
	auto start = std::chrono::steady_clock::now();
	Outer o;
	for (uint64_t n = 0;; n++) {
		sink += o.run(n);
		std::chrono::duration<double> d = std::chrono::steady_clock::now() - start;
		if (d.count() >= seconds)
			break;
	}
	return 0;
}
