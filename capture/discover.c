/* Target discovery in a pod with a shared pid namespace: every visible process grouped into
 * containers by mount namespace; our own group and the pause container are not candidates. */
#include "capture/mountinfo.h"
#include "capture/sidecar.h"
#include "common/cleanup.h"
#include "common/safeopen.h"
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct group {
	uint64_t mntns;
	pid_t lowest;
	size_t nprocs;
	bool pause;    /* every process is a pause/catatonit */
	bool sidecar;  /* every process is an afterimage-capture (another capture's sidecar) */
	bool match;    /* some process matched --target-exe / --target-cgroup */
	char comm[17]; /* of the lowest pid */
};

static int mntns_of(int proc_fd, const char *pidname, uint64_t *ino)
{
	char path[64];
	snprintf(path, sizeof(path), "%s/ns/mnt", pidname);
	return ai_ns_inode(proc_fd, path, ino);
}

static void read_comm(int proc_fd, const char *pidname, char out[17])
{
	char path[64];
	snprintf(path, sizeof(path), "%s/comm", pidname);
	out[0] = '\0';
	cleanup_close int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, out, 16);
	if (n < 0)
		n = 0;
	out[n] = '\0';
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
}

/* Kernel threads (kdevtmpfs has a mount namespace of its own) are never a container. */
static bool is_kthread(int proc_fd, const char *pidname)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "%s/stat", pidname);
	cleanup_close int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long flags = 0;
	/* after comm: state ppid pgrp session tty_nr tpgid flags */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & 0x00200000; /* PF_KTHREAD */
}

static bool is_pause(const char *comm)
{
	return !strcmp(comm, "pause") || !strcmp(comm, "catatonit");
}

static bool proc_matches(int proc_fd, const char *pidname, const struct ai_discover_opts *o,
			 const regex_t *re)
{
	char path[64];
	if (o->sel == AI_SELECT_EXE) {
		char link[4096];
		snprintf(path, sizeof(path), "%s/exe", pidname);
		ssize_t n = readlinkat(proc_fd, path, link, sizeof(link) - 1);
		if (n < 0)
			return false;
		link[n] = '\0';
		return regexec(re, link, 0, NULL, 0) == 0;
	}
	if (o->sel == AI_SELECT_CGROUP) {
		snprintf(path, sizeof(path), "%s/cgroup", pidname);
		cleanup_close int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
		char buf[8192];
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (n <= 0)
			return false;
		buf[n] = '\0';
		return strstr(buf, o->pattern) != NULL;
	}
	return false;
}

/* Every process visible in /proc grouped by mount namespace, leaving out ours and kernel
 * threads; only those of pid namespace pidns when it is not 0. */
static int scan_groups(int proc_fd, uint64_t self_ns, uint64_t pidns, const struct ai_discover_opts *o,
		       const regex_t *re, struct group **out, size_t *nout, ai_err_t *err)
{
	cleanup_closedir DIR *dir = ai_proc_opendir(proc_fd);
	if (!dir)
		return ai_err_set(err, errno, "open /proc");
	struct group *g = NULL;
	size_t ng = 0, capn = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		pid_t p = ai_proc_pid(de->d_name);
		if (!p)
			continue;
		uint64_t ns, pns;
		char pp[64];
		snprintf(pp, sizeof(pp), "%s/ns/pid", de->d_name);
		if (mntns_of(proc_fd, de->d_name, &ns) < 0 || ns == self_ns ||
		    (pidns && (ai_ns_inode(proc_fd, pp, &pns) < 0 || pns != pidns)) ||
		    is_kthread(proc_fd, de->d_name))
			continue; /* gone, a kernel thread, our own container, another pod */
		size_t i;
		for (i = 0; i < ng && g[i].mntns != ns; i++)
			;
		char comm[17];
		read_comm(proc_fd, de->d_name, comm);
		if (i == ng) {
			if (ng == capn) {
				capn = capn ? capn * 2 : 8;
				struct group *ngp = realloc(g, capn * sizeof(*g));
				if (!ngp) {
					free(g);
					return ai_err_set(err, ENOMEM, "process groups");
				}
				g = ngp;
			}
			memset(&g[ng], 0, sizeof(g[ng]));
			g[ng].mntns = ns;
			g[ng].lowest = p;
			g[ng].pause = true;
			g[ng].sidecar = true;
			snprintf(g[ng].comm, sizeof(g[ng].comm), "%s", comm);
			ng++;
		}
		g[i].nprocs++;
		if (!is_pause(comm))
			g[i].pause = false;
		if (strcmp(comm, "afterimage-capt")) /* comm is cut at 15 bytes */
			g[i].sidecar = false;
		if (p < g[i].lowest) {
			g[i].lowest = p;
			snprintf(g[i].comm, sizeof(g[i].comm), "%s", comm);
		}
		if (o && (re || o->sel == AI_SELECT_CGROUP))
			if (proc_matches(proc_fd, de->d_name, o, re))
				g[i].match = true;
	}
	*out = g;
	*nout = ng;
	return 0;
}

/* The host's pid namespace has a fixed inode (PROC_PID_INIT_INO): any other is a container's,
 * i.e. we run as a sidecar sharing a pod's pid namespace. */
static bool in_pod(int proc_fd)
{
	uint64_t ino;
	return ai_ns_inode(proc_fd, "self/ns/pid", &ino) == 0 && ino != 0xEFFFFFFCu;
}

static void regfreep(regex_t **r)
{
	if (*r)
		regfree(*r);
}

int ai_discover(int proc_fd, const struct ai_discover_opts *o, struct ai_found *out, ai_err_t *err)
{
	memset(out, 0, sizeof(*out));
	uint64_t self_ns;
	if (mntns_of(proc_fd, "self", &self_ns) < 0)
		return ai_err_set(err, errno, "our own mount namespace");
	regex_t re_store;
	__attribute__((cleanup(regfreep))) regex_t *re = NULL;
	if (o->sel == AI_SELECT_EXE) {
		int rc = regcomp(&re_store, o->pattern, REG_EXTENDED | REG_NOSUB);
		if (rc != 0)
			return ai_err_set(err, 0, "--target-exe: invalid regular expression");
		re = &re_store;
	}
	if (o->sel == AI_SELECT_PID) {
		char name[32];
		snprintf(name, sizeof(name), "%d", o->pid);
		if (mntns_of(proc_fd, name, &out->mntns) < 0)
			return ai_err_set(err, errno, "target pid %d", o->pid);
		if (out->mntns == self_ns)
			return ai_err_set(
			    err, 0, "pid %d shares our mount namespace: not a container to capture", o->pid);
	}

	cleanup_free struct group *g = NULL;
	size_t ng = 0;
	if (scan_groups(proc_fd, self_ns, 0, o, re, &g, &ng, err) < 0)
		return -1;

	struct group *pick = NULL;
	size_t ncand = 0;
	for (size_t i = 0; i < ng; i++) {
		bool cand;
		switch (o->sel) {
		case AI_SELECT_PID:
			cand = g[i].mntns == out->mntns;
			break;
		case AI_SELECT_AUTO:
		case AI_SELECT_POD:
			cand = !g[i].pause;
			break;
		default:
			cand = g[i].match;
			break;
		}
		if (cand) {
			ncand++;
			pick = &g[i];
		}
	}
	if (ncand >= 1 &&
	    (o->sel == AI_SELECT_POD || (o->sel == AI_SELECT_AUTO && ncand > 1 && in_pod(proc_fd)))) {
		for (size_t i = 0; i < ng; i++)
			if (!g[i].pause && (!pick || g[i].lowest < pick->lowest))
				pick = &g[i];
		out->pid = pick->lowest;
		out->mntns = pick->mntns;
		out->nprocs = pick->nprocs;
		out->pod = true;
		return 0;
	}
	if (ncand == 1) {
		out->pid = o->sel == AI_SELECT_PID ? o->pid : pick->lowest;
		out->mntns = pick->mntns;
		out->nprocs = pick->nprocs;
		return 0;
	}
	if (ncand == 0)
		return ai_err_set(err, ESRCH, "no target container found (%zu other mount namespaces seen)",
				  ng);
	char list[768];
	size_t off = 0;
	list[0] = '\0';
	for (size_t i = 0; i < ng && off < sizeof(list) - 64; i++) {
		bool cand = o->sel == AI_SELECT_AUTO || o->sel == AI_SELECT_POD ? !g[i].pause : g[i].match;
		if (cand)
			off +=
			    (size_t)snprintf(list + off, sizeof(list) - off, "%spid %d (%s, %zu processes)",
					     off ? ", " : "", g[i].lowest, g[i].comm, g[i].nprocs);
	}
	return ai_err_set(
	    err, 0,
	    "%zu candidate containers: %s; choose one with --target-pid, --target-exe or --target-cgroup",
	    ncand, list);
}

pid_t ai_discover_survivor(int proc_fd, uint64_t mntns)
{
	cleanup_closedir DIR *dir = ai_proc_opendir(proc_fd);
	if (!dir)
		return 0;
	pid_t best = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		pid_t p = ai_proc_pid(de->d_name);
		uint64_t ns;
		if (!p || mntns_of(proc_fd, de->d_name, &ns) < 0 || ns != mntns)
			continue;
		char st[64], state = 0;
		snprintf(st, sizeof(st), "%s/stat", de->d_name);
		cleanup_close int fd = openat(proc_fd, st, O_RDONLY | O_CLOEXEC);
		char buf[512];
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (n > 0) {
			buf[n] = '\0';
			const char *rp = strrchr(buf, ')');
			if (rp && rp[1] == ' ')
				state = rp[2];
		}
		if (state == 'Z' || state == 'X' || state == 0)
			continue; /* a zombie has nothing left to read */
		if (!best || p < best)
			best = p;
	}
	return best;
}

void ai_discover_overlay_free(struct ai_overlay *ov)
{
	free(ov->upperdir);
	free(ov->workdir);
	free(ov->options);
	for (size_t i = 0; i < ov->nlower; i++)
		free(ov->lowerdirs[i]);
	free(ov->lowerdirs);
	memset(ov, 0, sizeof(*ov));
}

int ai_discover_overlay(int proc_fd, pid_t pid, struct ai_overlay *ov, ai_err_t *err)
{
	memset(ov, 0, sizeof(*ov));
	char rel[64];
	snprintf(rel, sizeof(rel), "%d/mountinfo", pid);
	cleanup_close int fd = openat(proc_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ai_err_set(err, errno, "/proc/%s", rel);
	cleanup_fclose FILE *f = fdopen(fd, "r");
	if (!f)
		return ai_err_set(err, errno, "fdopen");
	fd = -1;
	cleanup_free char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		struct ai_mountinfo m;
		ai_err_t e2;
		if (ai_mountinfo_parse_line(line, (size_t)n, &m, &e2) < 0)
			continue;
		if (m.mount_point.len != 1 || m.mount_point.s[0] != '/' || strcmp(m.fstype.s, "overlay") != 0)
			continue;
		struct ai_ovl_opts o;
		if (ai_mountinfo_parse_overlay(m.super_options.s, m.super_options.len, &o, err) < 0)
			return -1;
		ai_discover_overlay_free(ov);
		ov->found = true;
		ov->upperdir = o.upperdir;
		ov->workdir = o.workdir;
		ov->lowerdirs = o.lowerdirs;
		ov->nlower = o.nlower;
		ov->options = strndup(m.super_options.s, m.super_options.len);
		o.upperdir = o.workdir = NULL;
		o.lowerdirs = NULL;
		o.nlower = 0;
		ai_mountinfo_ovl_free(&o);
		/* keep scanning: the last mount on "/" is the visible one */
	}
	if (!ov->found)
		return ai_err_set(err, ENOENT, "no overlay mounted on / for pid %d", pid);
	return 0;
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	return x->lowest < y->lowest ? -1 : x->lowest > y->lowest;
}

int ai_discover_pod(int proc_fd, pid_t pid, struct ai_found *out, size_t max, size_t *n, ai_err_t *err)
{
	*n = 0;
	uint64_t self_ns, mntns, pidns;
	char name[32], pp[48];
	snprintf(name, sizeof(name), "%d", pid);
	snprintf(pp, sizeof(pp), "%d/ns/pid", pid);
	if (mntns_of(proc_fd, "self", &self_ns) < 0)
		return ai_err_set(err, errno, "our own mount namespace");
	if (mntns_of(proc_fd, name, &mntns) < 0 || ai_ns_inode(proc_fd, pp, &pidns) < 0)
		return ai_err_set(err, errno, "target pid %d", pid);
	if (mntns == self_ns)
		return ai_err_set(err, 0, "pid %d shares our mount namespace: not a container to capture",
				  pid);
	cleanup_free struct group *g = NULL;
	size_t ng = 0;
	if (scan_groups(proc_fd, self_ns, pidns, NULL, NULL, &g, &ng, err) < 0)
		return -1;
	qsort(g, ng, sizeof(*g), cmp_group);
	/* pid's container first, whatever it runs; then the others but the pause container */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < ng; i++) {
			bool mine = g[i].mntns == mntns;
			/* a sidecar of ours in the pod is not evidence of the pod */
			if (pass == 0 ? !mine : (mine || g[i].pause || g[i].sidecar))
				continue;
			if (*n == max)
				return ai_err_set(
				    err, E2BIG, "more than %zu containers share the pid namespace of pid %d",
				    max, pid);
			out[*n].pid = mine ? pid : g[i].lowest;
			out[*n].mntns = g[i].mntns;
			out[*n].nprocs = g[i].nprocs;
			(*n)++;
		}
	if (!*n)
		return ai_err_set(err, ESRCH, "pid %d: no process in its mount namespace", pid);
	return 0;
}

size_t ai_discover_napps(int proc_fd, ai_err_t *err)
{
	uint64_t self_ns;
	if (mntns_of(proc_fd, "self", &self_ns) < 0) {
		ai_err_set(err, errno, "our own mount namespace");
		return 0;
	}
	cleanup_free struct group *g = NULL;
	size_t ng = 0, napps = 0;
	if (scan_groups(proc_fd, self_ns, 0, NULL, NULL, &g, &ng, err) < 0)
		return 0;
	for (size_t i = 0; i < ng; i++)
		napps += !g[i].pause;
	return napps;
}
