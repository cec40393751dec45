/* Self-hardening after setup: keep only the capabilities a capture needs (effective, permitted
 * and bounding sets; inheritable and ambient emptied), set no_new_privs, load a seccomp
 * allowlist (everything else fails with EPERM, so a refused call is an error, not a crash).
 *
 * Kept capabilities, and why (docs/sidecar.md):
 *   CAP_SYS_PTRACE       read /proc/PID/{fd,fdinfo,environ,exe,maps} of the target's processes
 *                        (ptrace access checks) and open their fds through /proc/PID/fd
 *   CAP_DAC_READ_SEARCH  read every file of the upperdir and every open file, whoever owns it
 *   CAP_FOWNER           open those files with O_NOATIME (a forensic copy must not bump atime)
 *   CAP_KILL             pidfd_send_signal(pidfd, 0) liveness checks on processes of other uids
 *   CAP_SYS_ADMIN        read trusted.overlay.* xattrs (opaque dirs, redirects) and setns()
 *                        into the target's network namespace for sock_diag
 * --memory needs no capability more (CAP_SYS_PTRACE is what PTRACE_SEIZE and process_vm_readv
 * of another uid's process ask for), only two calls more, allowed only then: ptrace (seize,
 * interrupt, getregset, getsiginfo, detach) and process_vm_readv (the pages).
 *
 * serve --criu changes nothing here: CRIU cannot run under a seccomp filter (the kernel refuses
 * PTRACE_O_SUSPEND_SECCOMP to a filtered tracer), so criu.c's runner is forked before serve reads
 * its secrets, long before this runs, and serve itself still never execs. */
#include "capture/sidecar.h"
#include "common/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

static const cap_value_t keep[] = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_KILL, CAP_SYS_ADMIN};

const char *ai_harden_caps_text(void)
{
	return "cap_dac_read_search,cap_fowner,cap_kill,cap_sys_admin,cap_sys_ptrace";
}

static void cap_freep(cap_t *c)
{
	if (*c)
		cap_free(*c);
}
static void seccomp_releasep(scmp_filter_ctx *c)
{
	if (*c)
		seccomp_release(*c);
}
#define cleanup_cap	__attribute__((cleanup(cap_freep)))
#define cleanup_seccomp __attribute__((cleanup(seccomp_releasep)))

static bool kept(cap_value_t v)
{
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (keep[i] == v)
			return true;
	return false;
}

static int drop_caps(ai_err_t *err)
{
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which goes next. Without
	 * CAP_SETPCAP (a runtime already narrowed the set) the bounding set stays as given: with
	 * no_new_privs and execve refused it can never be used to regain anything. */
	cleanup_cap cap_t before = cap_get_proc();
	cap_flag_value_t setpcap = CAP_CLEAR;
	if (!before || cap_get_flag(before, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap) < 0)
		return ai_err_set(err, errno, "cap_get_proc");
	for (cap_value_t v = 0; setpcap == CAP_SET && v <= CAP_LAST_CAP; v++) {
		if (kept(v) || !CAP_IS_SUPPORTED(v))
			continue;
		if (cap_drop_bound(v) < 0 && errno != EINVAL)
			return ai_err_set(err, errno, "drop capability %d from the bounding set", v);
	}
	if (cap_reset_ambient() < 0 && errno != EINVAL)
		return ai_err_set(err, errno, "clear ambient capabilities");
	cleanup_cap cap_t cur = cap_get_proc();
	cleanup_cap cap_t want = cap_init();
	if (!cur || !want)
		return ai_err_set(err, errno, "cap_get_proc");
	/* keep only what we have of the needed set: never ask for more than we were given */
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		cap_flag_value_t have = CAP_CLEAR;
		if (cap_get_flag(cur, keep[i], CAP_PERMITTED, &have) < 0)
			return ai_err_set(err, errno, "cap_get_flag");
		if (have != CAP_SET)
			continue;
		cap_value_t v = keep[i];
		if (cap_set_flag(want, CAP_PERMITTED, 1, &v, CAP_SET) < 0 ||
		    cap_set_flag(want, CAP_EFFECTIVE, 1, &v, CAP_SET) < 0)
			return ai_err_set(err, errno, "cap_set_flag");
	}
	if (cap_set_proc(want) < 0)
		return ai_err_set(err, errno, "cap_set_proc");
	return 0;
}

/* Every syscall the serve loop, a capture, signing, the upload (OpenSSL) and the watchdog use. */
static const char *const allowed[] = {
    /* files and directories */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "open",
    "openat",
    "openat2",
    "close",
    "close_range",
    "lseek",
    "fstat",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "getdents64",
    "readlink",
    "readlinkat",
    "fgetxattr",
    "flistxattr",
    "getxattr",
    "lgetxattr",
    "listxattr",
    "llistxattr",
    "fcntl",
    "dup",
    "dup2",
    "dup3",
    "fsync",
    "fdatasync",
    "ftruncate",
    "renameat",
    "renameat2",
    "rename",
    "unlink",
    "unlinkat",
    "mkdirat",
    "fchmod",
    "fchmodat",
    "fchown",
    "linkat",
    "faccessat",
    "faccessat2",
    "access",
    "fstatfs",
    "statfs",
    "getcwd",
    "fadvise64",
    "sendfile",
    "copy_file_range",
    "splice",
    "umask",
    "utimensat",
    "name_to_handle_at",
    /* memory */
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mlock",
    "munlock",
    "mincore",
    /* events and time */
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "eventfd2",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "signalfd4",
    "pipe2",
    "clock_gettime",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "time",
    "clock_getres",
    /* signals, processes, threads (the capture worker, the freeze watchdog) */
    "rt_sigprocmask",
    "rt_sigaction",
    "rt_sigreturn",
    "sigaltstack",
    "rt_sigtimedwait",
    "clone",
    "clone3",
    "fork",
    "wait4",
    "waitid",
    "exit",
    "exit_group",
    "futex",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "set_tid_address",
    "sched_yield",
    "sched_getaffinity",
    "getpid",
    "gettid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "tgkill",
    "pidfd_open",
    "pidfd_send_signal",
    "prlimit64",
    "getrlimit",
    "getrusage",
    "sysinfo",
    "uname",
    "getrandom",
    "prctl",
    "capget",
    "setns",
    "membarrier",
    "ioctl",
    /* sockets (HTTP, trigger socket, sock_diag netlink, upload) */
    "socket",
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
};

static const char *const allowed_memory[] = {"ptrace", "process_vm_readv"};

static int allow(scmp_filter_ctx ctx, const char *const *names, size_t n, ai_err_t *err)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture (e.g. open on arm64) */
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0)
			return ai_err_set(err, -rc, "seccomp rule for %s", names[i]);
	}
	return 0;
}

static int load_seccomp(bool memory, ai_err_t *err)
{
	cleanup_seccomp scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return ai_err_set(err, 0, "seccomp_init");
	if (allow(ctx, allowed, sizeof(allowed) / sizeof(allowed[0]), err) < 0 ||
	    (memory &&
	     allow(ctx, allowed_memory, sizeof(allowed_memory) / sizeof(allowed_memory[0]), err) < 0))
		return -1;
	int rc = seccomp_load(ctx);
	if (rc < 0)
		return ai_err_set(err, -rc, "seccomp_load");
	return 0;
}

int ai_harden(bool memory, ai_err_t *err)
{
	if (drop_caps(err) < 0)
		return ai_err_wrap(err, "dropping capabilities");
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer's exit-time check needs ptrace-like syscalls the filter refuses: check now,
	 * which also turns the exit-time check off (runs with --no-harden keep it). */
	__lsan_do_leak_check();
#endif
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ai_err_set(err, errno, "no_new_privs");
	if (load_seccomp(memory, err) < 0)
		return ai_err_wrap(err, "loading the seccomp allowlist");
	return 0;
}
