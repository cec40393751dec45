/* The rule table and the record of one finding: what every rule module adds its findings through
 * (findings.c: the binaries and files; behave.c: the behaviour and configuration). */
#include "analyze/finding.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *az_sev_name(enum az_sev s)
{
	return s == AZ_SEV_HIGH ? "high" : s == AZ_SEV_MEDIUM ? "medium" : "info";
}

/* The rule table: ids are stable (docs/findings.md lists them); a new rule takes a new id. */
const struct az_rule az_rules[] = {
    {"AI-EXE-001", "exe-memfd", AZ_SEV_HIGH, false, "a process runs from a memfd (fileless)"},
    {"AI-EXE-002", "exe-deleted", AZ_SEV_HIGH, false, "a process runs a binary deleted since it started"},
    {"AI-EXE-003", "exe-unknown-origin", AZ_SEV_HIGH, false,
     "a process runs a binary no image layer nor the upperdir provides"},
    {"AI-EXE-004", "exe-added-at-runtime", AZ_SEV_HIGH, false, "a process runs a binary added at runtime"},
    {"AI-EXE-005", "exe-from-upperdir", AZ_SEV_HIGH, false,
     "a process runs a binary of the upperdir (no image to compare with)"},
    {"AI-EXE-006", "exe-modified", AZ_SEV_HIGH, false, "a process runs an image binary modified at runtime"},
    {"AI-EXE-007", "exe-content-mismatch", AZ_SEV_HIGH, false,
     "the running binary's sha256 differs from its image layer's"},
    {"AI-EXE-008", "exe-from-volatile", AZ_SEV_HIGH, false,
     "a process runs a binary from tmpfs, /dev/shm or an emptyDir"},
    {"AI-EXE-009", "dropped-binary-identity", AZ_SEV_MEDIUM, false,
     "a runtime-added, deleted or memfd executable is identical to a file of the image"},
    {"AI-NET-001", "connection-of-dropped-process", AZ_SEV_HIGH, false,
     "an established connection to a non-loopback peer owned by a process running an added, deleted "
     "or memfd binary"},
    {"AI-NET-002", "shell-socket-stdio", AZ_SEV_HIGH, false,
     "a shell or interpreter whose stdin, stdout or stderr is a socket (reverse or bind shell)"},
    {"AI-NET-003", "listener-of-flagged-process", AZ_SEV_HIGH, false,
     "a listening socket of a process flagged high"},
    {"AI-NET-004", "connection-established", AZ_SEV_MEDIUM, false,
     "an established connection to a non-loopback peer"},
    {"AI-NET-005", "listener-unexpected", AZ_SEV_MEDIUM, false,
     "a listening socket of a process the image does not start (not the container's init)"},
    {"AI-PROC-001", "service-spawned-shell", AZ_SEV_HIGH, false,
     "a web server, database or language runtime has a shell or downloader among its descendants"},
    {"AI-PROC-002", "argv0-mismatch", AZ_SEV_MEDIUM, false,
     "a process's argv[0] differs from its exe's name"},
    {"AI-PER-001", "uid0-account-added", AZ_SEV_HIGH, false, "/etc/passwd has a uid 0 account besides root"},
    {"AI-PER-002", "account-db-changed", AZ_SEV_MEDIUM, false,
     "passwd, shadow, group, gshadow or sudoers changed at runtime"},
    {"AI-PER-003", "cron-at-changed", AZ_SEV_HIGH, false, "a cron or at spool file changed at runtime"},
    {"AI-PER-004", "authorized-keys-changed", AZ_SEV_HIGH, false, "an ssh authorized_keys file changed"},
    {"AI-PER-005", "ld-preload-changed", AZ_SEV_HIGH, false, "/etc/ld.so.preload changed"},
    {"AI-PER-006", "shell-profile-changed", AZ_SEV_MEDIUM, false, "a shell rc or profile file changed"},
    {"AI-PER-007", "setuid-added", AZ_SEV_HIGH, false, "a setuid or setgid file added or gained at runtime"},
    {"AI-PER-008", "image-binary-modified", AZ_SEV_HIGH, false, "an image executable modified at runtime"},
    {"AI-PER-009", "image-binary-writable", AZ_SEV_MEDIUM, false,
     "an image executable made group or world writable"},
    {"AI-PER-010", "image-file-deleted", AZ_SEV_MEDIUM, false, "a whiteout hides a file of the image"},
    {"AI-PER-011", "opaque-dir-over-image", AZ_SEV_MEDIUM, false,
     "an opaque directory hides an image directory's content"},
    {"AI-PER-012", "executable-added", AZ_SEV_MEDIUM, false,
     "an executable file added or changed at runtime"},
    {"AI-PER-013", "executable-on-volatile", AZ_SEV_MEDIUM, false,
     "an executable or script open on tmpfs, /dev/shm or an emptyDir"},
    {"AI-PER-014", "executable-on-ephemeral-volume", AZ_SEV_MEDIUM, false,
     "an executable or script written to a tmpfs or emptyDir volume (/dev/shm included)"},
    {"AI-SEC-001", "secret-in-environment", AZ_SEV_HIGH, false,
     "an environment variable that looks like a credential, new in this process"},
    {"AI-SEC-002", "secret-file", AZ_SEV_MEDIUM, false,
     "a file added at runtime whose name looks like a credential"},
    {"AI-FILE-001", "deleted-open-file", AZ_SEV_MEDIUM, false, "a deleted file still held open"},
    {"AI-FILE-002", "memfd-open", AZ_SEV_MEDIUM, false, "a memfd held open"},
    {"AI-CTR-001", "privileged", AZ_SEV_HIGH, true, "the container's init holds every capability"},
    {"AI-CTR-002", "cap-sys-admin", AZ_SEV_HIGH, true, "the container's init holds CAP_SYS_ADMIN"},
    {"AI-CTR-003", "no-seccomp", AZ_SEV_MEDIUM, true, "the container's init runs without a seccomp filter"},
    {"AI-CTR-004", "root-writable-rootfs", AZ_SEV_INFO, true,
     "the container's init runs as uid 0 with a writable root filesystem"},
};
const size_t az_nrules = sizeof(az_rules) / sizeof(az_rules[0]);

const struct az_rule *az_rule_by_kind(const char *kind)
{
	for (size_t i = 0; i < az_nrules; i++)
		if (!strcmp(az_rules[i].kind, kind))
			return &az_rules[i];
	return NULL;
}

struct az_finding *az_finding_add(struct az_findings *f, const char *kind, int64_t pid, const char *path,
				  size_t plen, const char *fmt, ...)
{
	const struct az_rule *r = az_rule_by_kind(kind);
	if (!r)
		abort(); /* a kind without a row: a bug, caught by every test */
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 32;
		f->v = realloc(f->v, f->cap * sizeof(*f->v));
		if (!f->v)
			abort();
	}
	struct az_finding *x = &f->v[f->n++];
	memset(x, 0, sizeof(*x));
	x->rule = r;
	x->sev = r->sev;
	x->kind = r->kind;
	x->pid = pid;
	x->fd = -1;
	x->ct = -1;
	if (path)
		az_str_set(&x->path, path, plen);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	return x;
}

void az_endpoint(char *out, size_t outlen, const char *addr, int64_t port)
{
	if (!addr)
		addr = "?";
	if (strchr(addr, ':'))
		snprintf(out, outlen, "[%s]:%" PRId64, addr, port);
	else
		snprintf(out, outlen, "%s:%" PRId64, addr, port);
}

const char *az_row_container(const struct az_model *m, int64_t pid)
{
	if (m->ncts > 1) { /* a pod (format 2): the process's own container */
		const struct az_proc *p = pid >= 0 ? az_model_proc(m, pid) : NULL;
		return p ? az_model_ctname(m, p->ct) : NULL;
	}
	if (m->man.container_id.s && m->man.container_id.len)
		return m->man.container_id.s;
	if (m->ck.present && m->man.name.s)
		return m->man.name.s;
	return NULL;
}

const char *az_finding_container(const struct az_model *m, const struct az_finding *x)
{
	if (m->ncts > 1 && x->pid < 0 && x->ct >= 0 && (size_t)x->ct < m->ncts)
		return az_model_ctname(m, (unsigned)x->ct);
	return az_row_container(m, x->pid);
}
