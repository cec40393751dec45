/* The /proc parsers (capture/procparse.c) on hostile and odd inputs, the collector table, and the
 * processes and fds collectors run through their phases on this very process, into a real
 * bundle that is sealed and read back. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture/capture.h"
#include "capture/procparse.h"
#include "common/hash.h"
#include "common/sign.h"
#include "tests/unit/t.h"

static bool slice_is(struct ai_pp_slice s, const char *want)
{
	return s.len == strlen(want) && !memcmp(s.s, want, s.len);
}

static void test_stat(void)
{
	const char *s = "1234 (a) b (c) 9 x) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 98765 "
			"1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
	struct ai_pp_stat st;
	T_OK(ai_pp_parse_stat(s, strlen(s), &st) == 0, "stat: a comm with ')' and spaces parses");
	T_OK(slice_is(st.comm, "a) b (c) 9 x"), "stat: comm ends at the last ')'");
	T_OK(st.state == 'S', "stat: state");
	T_OK(st.ppid == 1, "stat: ppid");
	T_OK(st.threads == 3, "stat: num_threads");
	T_OK(st.starttime == 98765, "stat: starttime");
	const char *bad = "1234 (noclose S 1";
	T_OK(ai_pp_parse_stat(bad, strlen(bad), &st) < 0, "stat: no closing ')' is refused");
	const char *shortline = "1 (x) S 0 1 1";
	T_OK(ai_pp_parse_stat(shortline, strlen(shortline), &st) < 0,
	     "stat: a line without starttime is refused");
}

static void test_status(void)
{
	const char *s =
	    "Name:\tevil\\nUid:\t0\nUmask:\t0022\nNSpid:\t4242\t7\t1\nUid:\t1000\t1001\t1002\t1003\n"
	    "Groups:\t\nCapEff:\t000001ffffffffff\nNoNewPrivs:\t1\nSeccomp:\t2\n";
	struct ai_pp_slice v;
	uint64_t n;
	T_OK(ai_pp_field(s, strlen(s), "Uid", &v), "status: Uid found");
	T_OK(ai_pp_next_u64(&v, &n) && n == 1000, "status: an escaped newline in Name cannot forge Uid");
	T_OK(ai_pp_next_u64(&v, &n) && n == 1001, "status: second Uid");
	T_OK(ai_pp_field(s, strlen(s), "NSpid", &v), "status: NSpid found");
	T_OK(ai_pp_next_u64(&v, &n) && n == 4242, "status: first NSpid");
	T_OK(ai_pp_field(s, strlen(s), "Groups", &v) && v.len == 0 && !ai_pp_next_u64(&v, &n),
	     "status: empty Groups");
	T_OK(ai_pp_field(s, strlen(s), "CapEff", &v) && ai_pp_is_hex(&v) && slice_is(v, "000001ffffffffff"),
	     "status: CapEff is hex");
	T_OK(!ai_pp_field(s, strlen(s), "CapAmb", &v), "status: a missing key is not found");
	T_OK(!ai_pp_field(s, strlen(s), "Ui", &v), "status: a key prefix does not match");
}

static void test_ns_nul_ticks(void)
{
	uint64_t ino;
	T_OK(ai_pp_ns_inode("mnt:[4026531840]", 16, &ino) && ino == 4026531840ull, "ns link inode");
	T_OK(!ai_pp_ns_inode("mnt:[]", 6, &ino), "ns link: empty brackets refused");
	T_OK(!ai_pp_ns_inode("mnt:[12x]", 9, &ino), "ns link: garbage refused");

	const char block[] = "a\0\0b c\0tail";
	const char *p = block, *end = block + sizeof(block) - 1;
	struct ai_pp_slice sl;
	T_OK(ai_pp_next_nul(&p, end, &sl) && slice_is(sl, "a"), "NUL split: first piece");
	T_OK(ai_pp_next_nul(&p, end, &sl) && sl.len == 0, "NUL split: an empty piece");
	T_OK(ai_pp_next_nul(&p, end, &sl) && slice_is(sl, "b c"), "NUL split: a piece with a space");
	T_OK(ai_pp_next_nul(&p, end, &sl) && slice_is(sl, "tail"), "NUL split: a last piece without NUL");
	T_OK(!ai_pp_next_nul(&p, end, &sl), "NUL split: then the end");

	T_OK(ai_pp_ticks_to_ns(1000000000, 250, 100) == 3500000000ll, "ticks to ns since the epoch");
}

static void test_maps(void)
{
	struct ai_pp_map m;
	const char *l1 = "7f0000000000-7f0000021000 r-xp 00001000 fd:01 1234567                    "
			 "/usr/lib/my lib (deleted)";
	T_OK(ai_pp_parse_map(l1, strlen(l1), &m) == 0, "maps: a line with a spaced path parses");
	T_OK(slice_is(m.start, "7f0000000000") && slice_is(m.end, "7f0000021000"), "maps: start and end");
	T_OK(slice_is(m.perms, "r-xp") && slice_is(m.offset, "00001000") && slice_is(m.dev, "fd:01"),
	     "maps: perms, offset, dev");
	T_OK(m.inode == 1234567, "maps: inode");
	T_OK(slice_is(m.path, "/usr/lib/my lib (deleted)"), "maps: the path is the rest of the line");
	uint64_t lo = 0, hi = 0, off = 0;
	T_OK(ai_pp_hex_u64(m.start, &lo) && ai_pp_hex_u64(m.end, &hi) && ai_pp_hex_u64(m.offset, &off) &&
		 lo == 0x7f0000000000ull && hi == 0x7f0000021000ull && off == 0x1000,
	     "maps: addresses as numbers");
	T_OK(!ai_pp_hex_u64((struct ai_pp_slice){"10000000000000000", 17}, &lo),
	     "hex: more than 64 bits refused");
	T_OK(ai_pp_hex_u64((struct ai_pp_slice){"FfFfFfFfFfFfFfFf", 16}, &lo) && lo == UINT64_MAX,
	     "hex: 64 bits, either case");
	T_OK(!ai_pp_hex_u64((struct ai_pp_slice){"", 0}, &lo), "hex: empty refused");
	const char *l2 = "7ffd1000-7ffd2000 rw-p 00000000 00:00 0 ";
	T_OK(ai_pp_parse_map(l2, strlen(l2), &m) == 0 && m.path.len == 0, "maps: an anonymous mapping");
	const char *l3 = "zz-7ffd2000 rw-p 00000000 00:00 0";
	T_OK(ai_pp_parse_map(l3, strlen(l3), &m) < 0, "maps: a non-hex start is refused");
	const char *l4 = "1000-2000 rw-p";
	T_OK(ai_pp_parse_map(l4, strlen(l4), &m) < 0, "maps: a cut line is refused");

	/* As serve's idle trimming uses it: every line of our own maps, newline excluded. */
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];
	size_t n = 0, good = 0;
	bool heap = false;
	while (f && fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\n");
		n++;
		if (ai_pp_parse_map(line, len, &m) == 0 && ai_pp_hex_u64(m.start, &lo) &&
		    ai_pp_hex_u64(m.end, &hi) && lo < hi && m.perms.len == 4) {
			good++;
			heap |= slice_is(m.path, "[heap]") || slice_is(m.path, "[stack]");
		}
	}
	if (f)
		fclose(f);
	T_OK(n > 3 && good == n, "maps: every line of /proc/self/maps parses (%zu of %zu)", good, n);
	T_OK(heap, "maps: a [heap] or [stack] pseudo path is kept as the path");
}

static void test_limits(void)
{
	struct ai_pp_limit l;
	const char *a = "Max open files            1024                 1048576              files     ";
	T_OK(ai_pp_parse_limit(a, strlen(a), &l) == 0, "limits: a line with units parses");
	T_OK(slice_is(l.name, "Max open files") && slice_is(l.soft, "1024") && slice_is(l.hard, "1048576"),
	     "limits: name, soft, hard");
	T_OK(slice_is(l.units, "files"), "limits: units");
	const char *b = "Max realtime priority     0                    0                    ";
	T_OK(ai_pp_parse_limit(b, strlen(b), &l) == 0, "limits: a line without units parses");
	T_OK(slice_is(l.name, "Max realtime priority") && slice_is(l.soft, "0") && l.units.len == 0,
	     "limits: without units, units is empty");
	const char *c = "Max cpu time              unlimited            unlimited            seconds   ";
	T_OK(ai_pp_parse_limit(c, strlen(c), &l) == 0 && slice_is(l.soft, "unlimited") &&
		 slice_is(l.units, "seconds"),
	     "limits: unlimited");
	const char *d = "garbage";
	T_OK(ai_pp_parse_limit(d, strlen(d), &l) < 0, "limits: garbage refused");
}

static void test_fd_helpers(void)
{
	struct stat reg = {.st_mode = S_IFREG | 0644}, dir = {.st_mode = S_IFDIR | 0755},
		    chr = {.st_mode = S_IFCHR | 0666};
	T_OK(ai_pp_fd_classify("socket:[123]", 12, NULL) == AI_FD_SOCKET, "fd type: socket");
	T_OK(ai_pp_fd_classify("pipe:[9]", 8, NULL) == AI_FD_PIPE, "fd type: pipe");
	T_OK(ai_pp_fd_classify("anon_inode:[eventpoll]", 22, NULL) == AI_FD_ANON, "fd type: anon inode");
	T_OK(ai_pp_fd_classify("/memfd:x (deleted)", 18, &reg) == AI_FD_MEMFD, "fd type: memfd");
	T_OK(ai_pp_fd_classify("/tmp/a (deleted)", 16, &reg) == AI_FD_DELETED, "fd type: deleted");
	T_OK(ai_pp_fd_classify("/dev/null", 9, &chr) == AI_FD_DEVICE, "fd type: device by mode");
	T_OK(ai_pp_fd_classify("/dev/fake", 9, &reg) == AI_FD_FILE, "fd type: a file named /dev/x is a file");
	T_OK(ai_pp_fd_classify("/etc", 4, &dir) == AI_FD_DIR, "fd type: dir");
	T_OK(ai_pp_fd_classify("net:[4026531992]", 16, NULL) == AI_FD_OTHER, "fd type: other");

	bool roundtrip = true;
	for (unsigned t = 0; t < AI_FD_NTYPES; t++)
		roundtrip &= ai_fd_type_parse(ai_fd_type_name((enum ai_fd_type)t)) == (enum ai_fd_type)t;
	T_OK(roundtrip, "fd type names: every name reads back as its type");
	T_STREQ(ai_fd_type_name(AI_FD_MEMFD), "memfd", "fd type names: the bundle's name of a memfd");
	T_OK(ai_fd_type_parse("fifo") == AI_FD_OTHER && ai_fd_type_parse(NULL) == AI_FD_OTHER,
	     "fd type names: unknown or missing is other");

	struct ai_pp_fdinfo fi;
	const char *info =
	    "pos:\t42\nflags:\t0100002\nmnt_id:\t27\nino:\t9876\ntfd:        5 events:       19\n";
	ai_pp_parse_fdinfo(info, strlen(info), &fi);
	T_OK(fi.has_pos && fi.pos == 42, "fdinfo: pos");
	T_OK(fi.has_flags && !strcmp(fi.flags, "0100002"), "fdinfo: flags kept as octal text");
	T_OK(fi.has_mnt && fi.mnt_id == 27, "fdinfo: mnt_id");
	T_OK(fi.has_ino && fi.ino == 9876, "fdinfo: ino");
	const char *bad = "pos:\t-1\nflags:\t0109\n";
	ai_pp_parse_fdinfo(bad, strlen(bad), &fi);
	T_OK(!fi.has_pos && !fi.has_flags && !fi.has_mnt, "fdinfo: a signed pos and non-octal flags refused");
}

/* The table is the only list of collectors; the timing array of capture-log.json follows it. */
static void test_table(void)
{
	static const char *const want[] = {"mounts", "processes", "fds",      "sockets", "memory",
					   "upper",  "volumes",	  "identity", "criu"};
	bool names = ai_ncollectors == sizeof(want) / sizeof(want[0]);
	for (size_t i = 0; names && i < ai_ncollectors; i++)
		names = !strcmp(ai_collectors[i]->name, want[i]);
	T_OK(names, "collectors: mounts, processes, fds, sockets, memory, upper, volumes, identity, criu, in "
		    "that order");
	T_OK(ai_collector_sockets.flags & AI_COLL_POD, "collectors: sockets run once for the whole pod");
	T_OK(!(ai_collector_volumes.flags & (AI_COLL_VOLATILE | AI_COLL_POD)),
	     "collectors: volumes run per container, after the thaw");
	bool shape = true;
	for (size_t i = 0; i < ai_ncollectors; i++) {
		const struct ai_collector *c = ai_collectors[i];
		/* a second half means state between the phases, and state must be freed */
		shape &= c->collect && (!c->finish || c->discard);
	}
	T_OK(shape, "collectors: every one collects, and every split one discards");
	bool volatile_ok = true;
	for (size_t i = 0; i < 4; i++)
		volatile_ok &= (ai_collectors[i]->flags & AI_COLL_VOLATILE) &&
			       !(ai_collectors[i]->flags & AI_COLL_WORKS_WITHOUT_TARGET);
	T_OK(volatile_ok, "collectors: the first four read volatile state and need the target");
	T_OK(ai_collector_upper.flags == AI_COLL_WORKS_WITHOUT_TARGET,
	     "collectors: upper runs after the thaw, and without the target");
	T_OK(ai_collector_criu.flags == 0,
	     "collectors: criu runs after the thaw (CRIU freezes the tree itself)");
}

/* A capture context on one pinned process, writing a real bundle in a temporary directory. */
struct tcap {
	struct ai_capture cap;
	struct ai_container ct;
	char dir[256];
	int dirfd;
	json_t *processes, *fds; /* read back after sealing */
};

static void tcap_open(struct tcap *t, struct ai_proc *proc)
{
	memset(t, 0, sizeof(*t));
	t->ct.target.pid = proc->pid;
	t->ct.target.procs = proc;
	t->ct.target.nprocs = 1;
	t->cap.containers = &t->ct;
	t->cap.ncontainers = 1;
	t->cap.proc_fd = -1;
	t->cap.host_root_fd = -1;
	t->cap.fd_cap = AI_DEFAULT_FD_CAP;
	t->cap.exe_cap = 256ull << 20;
	ai_spool_init(&t->cap.log, -1);
	ai_json_init(&t->cap.logj, &t->cap.log.buf);
	ai_json_arr_begin(&t->cap.logj);
	const char *tmp = getenv("TMPDIR");
	snprintf(t->dir, sizeof(t->dir), "%s/ai-procparse.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ai_err_t err = {0};
	bool ok = mkdtemp(t->dir) && (t->dirfd = open(t->dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0 &&
		  ai_bundle_create(&t->cap.bundle, t->dirfd, "t", &err) == 0;
	t->cap.outdir_fd = t->cap.log.dirfd = t->dirfd; /* where spools go */
	T_OK(ok, "a bundle to collect into (%s)", err.msg);
}

/* Both phases of a collector, as snapshot.c drives them without a freeze; discard always. */
static int tcap_run(struct tcap *t, const struct ai_collector *c)
{
	void *state = NULL;
	ai_err_t err = {0};
	int r = c->collect(&t->cap, &state, &err);
	if (r == 0 && c->finish)
		r = c->finish(&t->cap, state, &err);
	if (c->discard && state)
		c->discard(state);
	if (r < 0)
		printf("# %s: %s\n", c->name, err.msg);
	return r;
}

/* The log so far, for a failed check to show. */
static void tcap_show_log(struct tcap *t)
{
	if (t->cap.nerrors)
		printf("# capture log: %.*s\n", (int)t->cap.log.buf.len, t->cap.log.buf.data);
}

static json_t *member_json(struct archive *a)
{
	struct ai_buf b;
	ai_buf_init(&b);
	char chunk[65536];
	la_ssize_t n;
	while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
		ai_buf_add(&b, chunk, (size_t)n);
	json_error_t je;
	json_t *doc = json_loadb(b.data ? b.data : "", b.len, 0, &je);
	if (!doc)
		printf("# invalid JSON: %s\n", je.text);
	ai_buf_free(&b);
	return doc;
}

/* Seal the bundle and read processes.json and fds.json back from the tar. */
static void tcap_seal(struct tcap *t)
{
	ai_err_t err = {0};
	EVP_PKEY *key = NULL;
	char sha[AI_SHA256_HEXLEN];
	static const char manifest[] = "{\"members\":";
	bool ok = ai_key_generate(&key, &err) == 0 &&
		  ai_bundle_seal(t->cap.bundle, key, manifest, sizeof(manifest) - 1, "test", sha, &err) == 0;
	ai_pkey_freep(&key);
	T_OK(ok, "the bundle seals (%s)", err.msg);
	char path[300];
	snprintf(path, sizeof(path), "%s/t.tar", t->dir);
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	struct archive_entry *e;
	if (archive_read_open_filename(a, path, 65536) == ARCHIVE_OK) {
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			const char *name = archive_entry_pathname(e);
			if (!strcmp(name, AI_M_PROCESSES))
				t->processes = member_json(a);
			else if (!strcmp(name, AI_M_FDS))
				t->fds = member_json(a);
		}
	}
	archive_read_free(a);
}

static void tcap_close(struct tcap *t)
{
	json_decref(t->processes);
	json_decref(t->fds);
	ai_bundle_free(t->cap.bundle);
	ai_spool_free(&t->cap.log);
	if (t->dirfd >= 0) {
		unlinkat(t->dirfd, "t.tar", 0);
		unlinkat(t->dirfd, "t.tar.minisig", 0);
		unlinkat(t->dirfd, "t.tar.partial", 0);
		close(t->dirfd);
		rmdir(t->dir);
	}
}

/* Both collectors on ourselves: the JSON must parse and describe what we know we hold. */
static void test_self(void)
{
	int procfd = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
	T_OK(procfd >= 0, "open /proc/self");
	int pfd[2];
	T_OK(pipe(pfd) == 0, "a pipe to find among our fds");
	struct ai_proc proc = {.pid = getpid(), .procfd = procfd, .pidfd = -1};
	struct tcap t;
	tcap_open(&t, &proc);

	T_OK(tcap_run(&t, &ai_collector_processes) == 0, "processes collects ourselves");
	T_OK(t.cap.nerrors == 0, "processes: no error logged");
	tcap_show_log(&t);
	unsigned errors_before = t.cap.nerrors;
	T_OK(tcap_run(&t, &ai_collector_fds) == 0, "fds collects ourselves");
	T_OK(t.cap.nerrors == errors_before, "fds: no error logged");
	tcap_show_log(&t);
	tcap_seal(&t);

	json_t *pr = json_array_get(json_object_get(t.processes, "processes"), 0);
	T_OK(pr != NULL, "processes.json lists us");
	T_OK(json_integer_value(json_object_get(pr, "pid")) == getpid(), "processes: pid");
	T_OK(json_integer_value(json_object_get(pr, "ppid")) == getppid(), "processes: ppid");
	T_OK(json_array_size(json_object_get(pr, "uid")) == 4, "processes: four uids");
	T_OK(json_array_size(json_object_get(pr, "maps")) > 3, "processes: maps");
	T_OK(json_array_size(json_object_get(pr, "limits")) >= 16, "processes: limits");
	json_t *exe = json_object_get(pr, "exe");
	T_OK(json_is_string(json_object_get(exe, "sha256")), "processes: the executable is hashed");
	T_OK(json_is_null(json_object_get(exe, "member")),
	     "processes: a lower-layer executable is not stored");
	/* in the shell /proc/self/exe would be sha256sum: name our executable by its path */
	char want[128] = "", self[4096];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl > 0) {
		self[sl] = '\0';
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "sha256sum '%s' | cut -d' ' -f1", self);
		t_sh(want, sizeof(want), cmd);
	}
	T_STREQ(json_string_value(json_object_get(exe, "sha256")), want,
		"processes: the executable's hash is sha256sum's");
	struct stat st;
	T_OK(stat("/proc/self/exe", &st) == 0 &&
		 json_integer_value(json_object_get(exe, "size")) == (json_int_t)st.st_size,
	     "processes: the whole executable is hashed (size)");
	T_OK(json_integer_value(json_object_get(json_object_get(pr, "ns"), "mnt")) > 0, "processes: mnt ns");
	T_OK(json_is_string(json_object_get(pr, "start_time")), "processes: start time");
	T_OK(json_object_get(pr, "error") == NULL, "processes: no per-process error");

	json_t *fds = json_object_get(t.fds, "fds");
	bool saw_pipe = false;
	for (size_t i = 0; i < json_array_size(fds); i++) {
		json_t *f = json_array_get(fds, i);
		if (json_integer_value(json_object_get(f, "fd")) == pfd[0]) {
			saw_pipe = true;
			T_STREQ(json_string_value(json_object_get(f, "type")), "pipe",
				"fds: our pipe is a pipe");
			T_OK(json_is_string(json_object_get(f, "flags")), "fds: the pipe's flags");
			T_OK(json_is_null(json_object_get(f, "recovered")), "fds: a pipe is never recovered");
		}
	}
	T_OK(saw_pipe, "fds.json lists our pipe");
	tcap_close(&t);
	close(pfd[0]);
	close(pfd[1]);
	close(procfd);
}

/* A process that is gone (reaped) before we read it: warnings and "vanished", never errors. */
static void test_vanished(void)
{
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", (int)child);
	int procfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	T_OK(procfd >= 0, "open /proc/CHILD");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	struct ai_proc proc = {.pid = child, .procfd = procfd, .pidfd = -1};
	T_OK(!ai_proc_alive(&proc), "a reaped child is not alive");
	struct tcap t;
	tcap_open(&t, &proc);

	T_OK(tcap_run(&t, &ai_collector_processes) == 0, "processes of a reaped process");
	T_OK(t.cap.nerrors == 0, "processes: no error for a vanished process");
	T_OK(t.cap.nwarnings == 1, "processes: one warning for a vanished process");
	tcap_show_log(&t);
	T_OK(tcap_run(&t, &ai_collector_fds) == 0, "fds of a reaped process");
	T_OK(t.cap.nerrors == 0, "fds: no error for a vanished process");
	tcap_seal(&t);
	json_t *pr = json_array_get(json_object_get(t.processes, "processes"), 0);
	T_OK(json_is_true(json_object_get(pr, "vanished")), "processes: marked vanished");
	T_OK(json_is_string(json_object_get(pr, "error")), "processes: says what failed");
	T_OK(json_array_size(json_object_get(t.fds, "fds")) == 0, "fds: nothing listed");
	tcap_close(&t);
	close(procfd);
}

/* The hasher processes.c hashes executables with: the whole fd, or its first max bytes. */
static void test_hash_fd_max(void)
{
	char self[4096];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	T_OK(sl > 0, "our executable's path");
	if (sl <= 0)
		return;
	self[sl] = '\0';
	char cmd[4200], want[128] = "", got[AI_SHA256_HEXLEN];
	snprintf(cmd, sizeof(cmd), "head -c 100000 '%s' | sha256sum | cut -d' ' -f1", self);
	t_sh(want, sizeof(want), cmd);
	int fd = open(self, O_RDONLY | O_CLOEXEC);
	uint8_t md[AI_SHA256_LEN];
	uint64_t size = 0;
	ai_err_t err = {0};
	T_OK(fd >= 0 && ai_hash_fd_max(fd, 0, 100000, md, &size, &err) == 0 && size == 100000,
	     "hash the first 100000 bytes");
	ai_hex(md, sizeof(md), got);
	T_STREQ(got, want, "a capped hash equals head -c | sha256sum");
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	test_stat();
	test_status();
	test_ns_nul_ticks();
	test_maps();
	test_limits();
	test_fd_helpers();
	test_table();
	test_self();
	test_vanished();
	test_hash_fd_max();
	return t_done();
}
