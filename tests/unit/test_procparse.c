/* The /proc parsers of capture/processes.c and capture/fds.c on hostile and odd inputs, and
 * both collectors run on this very process with the capture-side functions stubbed. The
 * collectors are included as source: their helpers are static by design. */
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture/processes.c"
#undef COLL
#include "capture/fds.c"

static int failures;
#define CHECK(c)                                                                                             \
	do {                                                                                                 \
		if (!(c)) {                                                                                  \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);                \
			failures++;                                                                          \
		}                                                                                            \
	} while (0)

static bool slice_is(struct pp_slice s, const char *want)
{
	return s.len == strlen(want) && !memcmp(s.s, want, s.len);
}

/* ---- stubs for what capture/log.c, target.c and snapshot.c provide ---- */
static unsigned nlogs[AI_LOG_INFO + 1];
void ai_log(struct ai_capture *cap, enum ai_log_level lvl, const char *collector, const char *fmt, ...)
{
	nlogs[lvl]++;
	if (lvl == AI_LOG_ERROR) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "[%s] error: ", collector);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}
void ai_log_path(struct ai_capture *cap, enum ai_log_level lvl, const char *collector, const char *path,
		 size_t path_len, const char *fmt, ...)
{
	nlogs[lvl]++;
}
static bool stub_alive = true;
bool ai_proc_alive(const struct ai_proc *p)
{
	return stub_alive;
}
static json_t *last_doc;
int ai_capture_put_json(struct ai_capture *cap, const char *member, struct ai_buf *doc, ai_err_t *err)
{
	json_error_t je;
	json_decref(last_doc);
	last_doc = json_loadb(doc->data, doc->len, 0, &je);
	if (!last_doc)
		fprintf(stderr, "%s: invalid JSON: %s\n", member, je.text);
	return last_doc ? 0 : -1;
}

static void test_stat(void)
{
	const char *s = "1234 (a) b (c) 9 x) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 98765 "
			"1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
	struct pp_stat st;
	CHECK(pp_parse_stat(s, strlen(s), &st) == 0);
	CHECK(slice_is(st.comm, "a) b (c) 9 x"));
	CHECK(st.state == 'S');
	CHECK(st.ppid == 1);
	CHECK(st.threads == 3);
	CHECK(st.starttime == 98765);
	const char *bad = "1234 (noclose S 1";
	CHECK(pp_parse_stat(bad, strlen(bad), &st) < 0);
	const char *shortline = "1 (x) S 0 1 1";
	CHECK(pp_parse_stat(shortline, strlen(shortline), &st) < 0);
}

static void test_status(void)
{
	const char *s =
	    "Name:\tevil\\nUid:\t0\nUmask:\t0022\nNSpid:\t4242\t7\t1\nUid:\t1000\t1001\t1002\t1003\n"
	    "Groups:\t\nCapEff:\t000001ffffffffff\nNoNewPrivs:\t1\nSeccomp:\t2\n";
	struct pp_slice v;
	uint64_t n;
	CHECK(pp_field(s, strlen(s), "Uid", &v));
	CHECK(pp_next_u64(&v, &n) && n == 1000);
	CHECK(pp_next_u64(&v, &n) && n == 1001);
	CHECK(pp_field(s, strlen(s), "NSpid", &v));
	CHECK(pp_next_u64(&v, &n) && n == 4242);
	CHECK(pp_field(s, strlen(s), "Groups", &v) && v.len == 0 && !pp_next_u64(&v, &n));
	CHECK(pp_field(s, strlen(s), "CapEff", &v) && pp_is_hex(&v) && slice_is(v, "000001ffffffffff"));
	CHECK(!pp_field(s, strlen(s), "CapAmb", &v));
	CHECK(!pp_field(s, strlen(s), "Ui", &v));
}

static void test_ns_nul_ticks(void)
{
	uint64_t ino;
	CHECK(pp_ns_inode("mnt:[4026531840]", 16, &ino) && ino == 4026531840ull);
	CHECK(!pp_ns_inode("mnt:[]", 6, &ino));
	CHECK(!pp_ns_inode("mnt:[12x]", 9, &ino));

	const char block[] = "a\0\0b c\0tail";
	const char *p = block, *end = block + sizeof(block) - 1;
	struct pp_slice sl;
	CHECK(pp_next_nul(&p, end, &sl) && slice_is(sl, "a"));
	CHECK(pp_next_nul(&p, end, &sl) && sl.len == 0);
	CHECK(pp_next_nul(&p, end, &sl) && slice_is(sl, "b c"));
	CHECK(pp_next_nul(&p, end, &sl) && slice_is(sl, "tail"));
	CHECK(!pp_next_nul(&p, end, &sl));

	CHECK(pp_ticks_to_ns(1000000000, 250, 100) == 3500000000ll);
}

static void test_maps(void)
{
	struct pp_map m;
	const char *l1 = "7f0000000000-7f0000021000 r-xp 00001000 fd:01 1234567                    "
			 "/usr/lib/my lib (deleted)";
	CHECK(pp_parse_map(l1, strlen(l1), &m) == 0);
	CHECK(slice_is(m.start, "7f0000000000") && slice_is(m.end, "7f0000021000"));
	CHECK(slice_is(m.perms, "r-xp") && slice_is(m.offset, "00001000") && slice_is(m.dev, "fd:01"));
	CHECK(m.inode == 1234567);
	CHECK(slice_is(m.path, "/usr/lib/my lib (deleted)"));
	const char *l2 = "7ffd1000-7ffd2000 rw-p 00000000 00:00 0 ";
	CHECK(pp_parse_map(l2, strlen(l2), &m) == 0 && m.path.len == 0);
	const char *l3 = "zz-7ffd2000 rw-p 00000000 00:00 0";
	CHECK(pp_parse_map(l3, strlen(l3), &m) < 0);
	const char *l4 = "1000-2000 rw-p";
	CHECK(pp_parse_map(l4, strlen(l4), &m) < 0);
}

static void test_limits(void)
{
	struct pp_limit l;
	const char *a = "Max open files            1024                 1048576              files     ";
	CHECK(pp_parse_limit(a, strlen(a), &l) == 0);
	CHECK(slice_is(l.name, "Max open files") && slice_is(l.soft, "1024") && slice_is(l.hard, "1048576"));
	CHECK(slice_is(l.units, "files"));
	const char *b = "Max realtime priority     0                    0                    ";
	CHECK(pp_parse_limit(b, strlen(b), &l) == 0);
	CHECK(slice_is(l.name, "Max realtime priority") && slice_is(l.soft, "0") && l.units.len == 0);
	const char *c = "Max cpu time              unlimited            unlimited            seconds   ";
	CHECK(pp_parse_limit(c, strlen(c), &l) == 0 && slice_is(l.soft, "unlimited") &&
	      slice_is(l.units, "seconds"));
	const char *d = "garbage";
	CHECK(pp_parse_limit(d, strlen(d), &l) < 0);
}

static void test_fd_helpers(void)
{
	struct stat reg = {.st_mode = S_IFREG | 0644}, dir = {.st_mode = S_IFDIR | 0755},
		    chr = {.st_mode = S_IFCHR | 0666};
	CHECK(fdi_classify("socket:[123]", 12, NULL) == FDT_SOCKET);
	CHECK(fdi_classify("pipe:[9]", 8, NULL) == FDT_PIPE);
	CHECK(fdi_classify("anon_inode:[eventpoll]", 22, NULL) == FDT_ANON);
	CHECK(fdi_classify("/memfd:x (deleted)", 18, &reg) == FDT_MEMFD);
	CHECK(fdi_classify("/tmp/a (deleted)", 16, &reg) == FDT_DELETED);
	CHECK(fdi_classify("/dev/null", 9, &chr) == FDT_DEVICE);
	CHECK(fdi_classify("/dev/fake", 9, &reg) == FDT_FILE);
	CHECK(fdi_classify("/etc", 4, &dir) == FDT_DIR);
	CHECK(fdi_classify("net:[4026531992]", 16, NULL) == FDT_OTHER);

	struct fdi_info fi;
	const char *info =
	    "pos:\t42\nflags:\t0100002\nmnt_id:\t27\nino:\t9876\ntfd:        5 events:       19\n";
	fdi_parse_info(info, strlen(info), &fi);
	CHECK(fi.has_pos && fi.pos == 42);
	CHECK(fi.has_flags && !strcmp(fi.flags, "0100002"));
	CHECK(fi.has_mnt && fi.mnt_id == 27);
	CHECK(fi.has_ino && fi.ino == 9876);
	const char *bad = "pos:\t-1\nflags:\t0109\n";
	fdi_parse_info(bad, strlen(bad), &fi);
	CHECK(!fi.has_pos && !fi.has_flags && !fi.has_mnt);
}

/* Both collectors on ourselves: the JSON must parse and describe what we know we hold. */
static void test_self(void)
{
	int procfd = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(procfd >= 0);
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	struct ai_proc proc = {.pid = getpid(), .procfd = procfd, .pidfd = -1};
	struct ai_capture cap;
	memset(&cap, 0, sizeof(cap));
	cap.target.procs = &proc;
	cap.target.nprocs = 1;
	cap.host_root_fd = -1;
	ai_err_t err = {0};

	memset(nlogs, 0, sizeof(nlogs));
	CHECK(ai_collector_processes.collect(&cap, &err) == 0);
	CHECK(nlogs[AI_LOG_ERROR] == 0);
	json_t *pr = json_array_get(json_object_get(last_doc, "processes"), 0);
	CHECK(pr != NULL);
	CHECK(json_integer_value(json_object_get(pr, "pid")) == getpid());
	CHECK(json_integer_value(json_object_get(pr, "ppid")) == getppid());
	CHECK(json_array_size(json_object_get(pr, "uid")) == 4);
	CHECK(json_array_size(json_object_get(pr, "maps")) > 3);
	CHECK(json_array_size(json_object_get(pr, "limits")) >= 16);
	CHECK(json_is_string(json_object_get(json_object_get(pr, "exe"), "sha256")));
	CHECK(json_is_null(json_object_get(json_object_get(pr, "exe"), "member")));
	CHECK(json_integer_value(json_object_get(json_object_get(pr, "ns"), "mnt")) > 0);
	CHECK(json_is_string(json_object_get(pr, "start_time")));
	CHECK(json_object_get(pr, "error") == NULL);

	memset(nlogs, 0, sizeof(nlogs));
	CHECK(ai_collector_fds.collect(&cap, &err) == 0);
	CHECK(nlogs[AI_LOG_ERROR] == 0);
	json_t *fds = json_object_get(last_doc, "fds");
	bool saw_pipe = false;
	for (size_t i = 0; i < json_array_size(fds); i++) {
		json_t *f = json_array_get(fds, i);
		if (json_integer_value(json_object_get(f, "fd")) == pfd[0]) {
			saw_pipe = true;
			CHECK(!strcmp(json_string_value(json_object_get(f, "type")), "pipe"));
			CHECK(json_is_string(json_object_get(f, "flags")));
			CHECK(json_is_null(json_object_get(f, "recovered")));
		}
	}
	CHECK(saw_pipe);
	json_decref(last_doc);
	last_doc = NULL;
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
	CHECK(procfd >= 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	struct ai_proc proc = {.pid = child, .procfd = procfd, .pidfd = -1};
	struct ai_capture cap;
	memset(&cap, 0, sizeof(cap));
	cap.target.procs = &proc;
	cap.target.nprocs = 1;
	cap.host_root_fd = -1;
	ai_err_t err = {0};
	stub_alive = false;

	memset(nlogs, 0, sizeof(nlogs));
	CHECK(ai_collector_processes.collect(&cap, &err) == 0);
	CHECK(nlogs[AI_LOG_ERROR] == 0);
	CHECK(nlogs[AI_LOG_WARNING] == 1);
	json_t *pr = json_array_get(json_object_get(last_doc, "processes"), 0);
	CHECK(json_is_true(json_object_get(pr, "vanished")));
	CHECK(json_is_string(json_object_get(pr, "error")));

	memset(nlogs, 0, sizeof(nlogs));
	CHECK(ai_collector_fds.collect(&cap, &err) == 0);
	CHECK(nlogs[AI_LOG_ERROR] == 0);
	CHECK(json_array_size(json_object_get(last_doc, "fds")) == 0);
	stub_alive = true;
	json_decref(last_doc);
	last_doc = NULL;
	close(procfd);
}

int main(void)
{
	test_stat();
	test_status();
	test_ns_nul_ticks();
	test_maps();
	test_limits();
	test_fd_helpers();
	test_self();
	test_vanished();
	if (failures) {
		fprintf(stderr, "test_procparse: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_procparse: ok\n");
	return 0;
}
