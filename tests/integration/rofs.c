/*
 * rofs.c: makes one folder read-only under a running process, for the
 * fault tests only.
 *
 * A file system remounted read-only under a process (the kernel does so
 * after I/O errors) fails every write of the files it holds open with
 * EROFS.  A test cannot do that to a tmpfs: `mount -o remount,ro` is
 * refused ("busy") while a process has a file open for writing, which is
 * exactly the case under test.  So this library, preloaded (LD_PRELOAD)
 * into a tocsin serve, fails with EROFS the calls that would change a
 * file under the folder named by ROFS_DIR (write, pwrite, ftruncate,
 * fallocate, unlink, and opening with O_CREAT or O_TRUNC) while the file
 * named by ROFS_FILE holds "1" (read at every call), as the kernel would.
 * Reads and the memory mapping of the -shm file are left alone.  Built
 * by the test itself; never part of tocsin.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* Only serve itself: gpg and other children write where they like. */
__attribute__((constructor)) static void
rofs_init(void)
{
	(void)unsetenv("LD_PRELOAD");
}

static int
rofs_on(void)
{
	const char *path = getenv("ROFS_FILE");
	int fd, saved = errno;
	char c = '0';

	if (path == NULL)
		return 0;
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errno = saved;
		return 0;
	}
	if (read(fd, &c, 1) != 1)
		c = '0';
	close(fd);
	errno = saved;
	return c == '1';
}

static int
rofs_path_under(const char *p)
{
	const char *dir = getenv("ROFS_DIR");
	size_t n;

	if (dir == NULL || p == NULL)
		return 0;
	n = strlen(dir);
	return strncmp(p, dir, n) == 0 && (p[n] == '/' || p[n] == '\0');
}

static int
rofs_fd_under(int fd)
{
	char link[64], target[4096];
	ssize_t n;
	int saved = errno;

	(void)snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	errno = saved;
	if (n <= 0)
		return 0;
	target[n] = '\0';
	return rofs_path_under(target);
}

/* The path as the process sees it, made absolute for the comparison. */
static int
rofs_name_under(const char *p)
{
	char cwd[4096], full[8192];

	if (p == NULL)
		return 0;
	if (p[0] == '/')
		return rofs_path_under(p);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return 0;
	(void)snprintf(full, sizeof(full), "%s/%s", cwd, p);
	return rofs_path_under(full);
}

#define REAL(name) \
	static __typeof__(&name) real_##name; \
	if (real_##name == NULL) \
		real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

#define DENY_FD(fd) \
	do { \
		if (rofs_on() && rofs_fd_under(fd)) { \
			errno = EROFS; \
			return -1; \
		} \
	} while (0)

ssize_t
write(int fd, const void *buf, size_t n)
{
	REAL(write);
	DENY_FD(fd);
	return real_write(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite);
	DENY_FD(fd);
	return real_pwrite(fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite64);
	DENY_FD(fd);
	return real_pwrite64(fd, buf, n, off);
}

int
ftruncate(int fd, off_t len)
{
	REAL(ftruncate);
	DENY_FD(fd);
	return real_ftruncate(fd, len);
}

int
ftruncate64(int fd, off_t len)
{
	REAL(ftruncate64);
	DENY_FD(fd);
	return real_ftruncate64(fd, len);
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
	REAL(fallocate);
	DENY_FD(fd);
	return real_fallocate(fd, mode, off, len);
}

int
posix_fallocate(int fd, off_t off, off_t len)
{
	REAL(posix_fallocate);
	if (rofs_on() && rofs_fd_under(fd))
		return EROFS;
	return real_posix_fallocate(fd, off, len);
}

int
unlink(const char *p)
{
	REAL(unlink);
	if (rofs_on() && rofs_name_under(p)) {
		errno = EROFS;
		return -1;
	}
	return real_unlink(p);
}

static int
rofs_open_denied(const char *p, int flags)
{
	return (flags & (O_CREAT | O_TRUNC)) != 0 && rofs_on() &&
	    rofs_name_under(p);
}

/* open and open64, alike but for the call they make; the mode is there
   only with O_CREAT. */
#define ROFS_OPEN(name) \
int \
name(const char *p, int flags, ...) \
{ \
	REAL(name); \
	mode_t mode = 0; \
	va_list ap; \
 \
	va_start(ap, flags); \
	if (flags & O_CREAT) \
		mode = (mode_t)va_arg(ap, int); \
	va_end(ap); \
	if (rofs_open_denied(p, flags)) { \
		errno = EROFS; \
		return -1; \
	} \
	return real_##name(p, flags, mode); \
}

ROFS_OPEN(open)
ROFS_OPEN(open64)
