// Opens and closes exactly N TCP connections to 127.0.0.1:PORT, after a
// byte arrives on stdin so the test can check its pid first. Built static:
// the kernel matrix's guests have no libc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int n, fd;
	char c;

	if (argc != 3)
		return 2;
	n = atoi(argv[1]);
	sa.sin_port = htons(atoi(argv[2]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (read(0, &c, 1) != 1)
		return 1;
	for (int i = 0; i < n; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			return 1;
		close(fd);
	}
	return 0;
}
