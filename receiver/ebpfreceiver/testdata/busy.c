/* A busy node in one program, for the cardinality budget test: `busy W`
 * runs W worker processes that each make ~60 distinct syscalls (many failing
 * with several errnos) as fast as they can, one process that forks and
 * execs /bin/true in a loop (process churn: thousands of short-lived
 * processes a minute), and one that opens loopback TCP connections to 48
 * ports in turn (96 connection series: both ends of each). Runs until
 * killed (its process group). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *missing = "/nonexistent/busy/path";

/* One round of distinct syscalls, about half of them failing (ENOENT,
 * EBADF, EINVAL, EFAULT, ENOTDIR, EAFNOSUPPORT, ECHILD, ...). */
static void round_of_syscalls(int round)
{
	char buf[256];
	struct stat st;
	struct timespec ts = {0, 0};
	struct rusage ru;
	struct sysinfo si;
	struct tms tm;
	struct utsname un;
	struct iovec iov = {buf, sizeof buf};
	int fd, p[2];

	syscall(SYS_getpid); syscall(SYS_getppid); syscall(SYS_gettid);
	syscall(SYS_getuid); syscall(SYS_geteuid); syscall(SYS_getgid); syscall(SYS_getegid);
	syscall(SYS_getpgrp); syscall(SYS_getsid, 0); syscall(SYS_sched_yield);
	syscall(SYS_uname, &un); syscall(SYS_getcwd, buf, sizeof buf);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts); syscall(SYS_clock_getres, CLOCK_MONOTONIC, &ts);
	syscall(SYS_nanosleep, &ts, NULL); syscall(SYS_getrusage, RUSAGE_SELF, &ru);
	syscall(SYS_sysinfo, &si); syscall(SYS_times, &tm); syscall(SYS_umask, 022);
	syscall(SYS_getpriority, PRIO_PROCESS, 0); syscall(SYS_sched_getscheduler, 0);
	syscall(SYS_getcpu, NULL, NULL, NULL);
	/* Failing calls: bad descriptors, missing paths, bad arguments. */
	syscall(SYS_read, -1, buf, 1); syscall(SYS_write, -1, buf, 1); syscall(SYS_close, -1);
	syscall(SYS_fstat, -1, &st); syscall(SYS_lseek, -1, 0, SEEK_SET); syscall(SYS_dup, -1);
	syscall(SYS_fcntl, -1, F_GETFL); syscall(SYS_ioctl, -1, 0); syscall(SYS_fsync, -1);
	syscall(SYS_readv, -1, &iov, 1); syscall(SYS_writev, -1, &iov, 1);
	syscall(SYS_pread64, -1, buf, 1, 0); syscall(SYS_pwrite64, -1, buf, 1, 0);
	syscall(SYS_ftruncate, -1, 0); syscall(SYS_fchmod, -1, 0644); syscall(SYS_fchdir, -1);
	syscall(SYS_openat, AT_FDCWD, missing, O_RDONLY); syscall(SYS_access, missing, F_OK);
	syscall(SYS_stat, missing, &st); syscall(SYS_lstat, missing, &st);
	syscall(SYS_newfstatat, AT_FDCWD, missing, &st, 0); syscall(SYS_readlink, missing, buf, sizeof buf);
	syscall(SYS_unlink, missing); syscall(SYS_rmdir, missing); syscall(SYS_mkdir, missing, 0755);
	syscall(SYS_chdir, missing); syscall(SYS_rename, missing, missing); syscall(SYS_truncate, missing, 0);
	syscall(SYS_statfs, missing, buf); syscall(SYS_chmod, missing, 0644);
	syscall(SYS_getxattr, missing, "user.x", buf, sizeof buf);
	syscall(SYS_openat, AT_FDCWD, "/etc/passwd/x", O_RDONLY); /* ENOTDIR */
	syscall(SYS_socket, 12345, SOCK_STREAM, 0); /* EAFNOSUPPORT */
	syscall(SYS_wait4, -1, NULL, WNOHANG, NULL); /* ECHILD */
	syscall(SYS_kill, 999999999, 0); /* ESRCH */
	syscall(SYS_mmap, NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* EINVAL */
	syscall(SYS_munmap, (void *)1, 1); /* EINVAL */
	syscall(SYS_madvise, (void *)1, 1, 12345); /* EINVAL */
	syscall(SYS_clock_gettime, 12345, &ts); /* EINVAL */
	syscall(SYS_getrandom, NULL, 1, 0); /* EFAULT */
	/* Succeeding calls with descriptors. */
	if (pipe2(p, O_CLOEXEC) == 0) {
		syscall(SYS_write, p[1], "x", 1);
		syscall(SYS_read, p[0], buf, 1);
		close(p[0]);
		close(p[1]);
	}
	fd = eventfd(0, EFD_CLOEXEC);
	if (fd >= 0)
		close(fd);
	fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd >= 0)
		close(fd);
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		syscall(SYS_pread64, fd, buf, sizeof buf, 0);
		syscall(SYS_fstat, fd, &st);
		close(fd);
	}
	(void)round;
}

static void worker(void)
{
	for (int round = 0;; round++)
		round_of_syscalls(round);
}

static void churn(void)
{
	for (;;) {
		pid_t pid = fork();
		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
}

#define PORTS 48

static void connections(void)
{
	int ls[PORTS];
	struct sockaddr_in addr;
	socklen_t len = sizeof addr;
	for (int i = 0; i < PORTS; i++) {
		ls[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		memset(&addr, 0, sizeof addr);
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bind(ls[i], (struct sockaddr *)&addr, sizeof addr);
		listen(ls[i], 128);
	}
	for (int n = 0;; n++) {
		int l = ls[n % PORTS], c, a;
		getsockname(l, (struct sockaddr *)&addr, &len);
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&addr, sizeof addr) == 0) {
			send(c, "ping", 4, 0);
			a = accept(l, NULL, NULL);
			if (a >= 0)
				close(a);
		}
		close(c);
		usleep(1000);
	}
}

int main(int argc, char **argv)
{
	int workers = argc > 1 ? atoi(argv[1]) : 20;
	setpgid(0, 0);
	for (int i = 0; i < workers; i++)
		if (fork() == 0)
			worker();
	if (fork() == 0)
		churn();
	if (fork() == 0)
		connections();
	for (;;)
		pause();
}
