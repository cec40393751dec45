/* One finding and the rule table (finding.c; documented in docs/findings.md): a stable rule id, a
 * kind, a severity and a class (behaviour of the workload, or the container's configuration).
 * The rule modules (findings.c, behave.c) add their findings through az_finding_add. */
#ifndef AZ_FINDING_H
#define AZ_FINDING_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "analyze/model.h"

enum az_sev { AZ_SEV_HIGH, AZ_SEV_MEDIUM, AZ_SEV_INFO };

struct az_rule {
	const char *id;	  /* "AI-NET-001": stable, never reused */
	const char *kind; /* "connection-established" */
	enum az_sev sev;  /* default severity */
	bool config;	  /* about how the container runs, not what the workload did */
	const char *what; /* one line for docs and --json */
};
extern const struct az_rule az_rules[];
extern const size_t az_nrules;

struct az_finding {
	enum az_sev sev;
	const char *kind; /* the rule's kind, e.g. "exe-deleted" */
	const struct az_rule *rule;
	int score;		    /* rank inside a severity: higher first */
	int64_t pid;		    /* -1 when not about a process */
	int64_t fd;		    /* -1 when not about one fd */
	int64_t ct;		    /* the container of a path finding (pid -1), -1 unknown */
	struct az_str path, member; /* member: where the bundle keeps the content */
	char sha256[65];
	char local[96], remote[96]; /* endpoints, "" when none */
	char msg[512];
};

struct az_findings {
	struct az_finding *v;
	size_t n, cap;
};

/* Options of the build: bundle (to read small members such as an added /etc/passwd; NULL: do not)
 * and whether secret values are shown. */
struct az_findings_opts {
	const char *bundle;
	bool show_secrets;
};

const char *az_sev_name(enum az_sev s);
/* The row of kind (NULL when none: a bug). */
const struct az_rule *az_rule_by_kind(const char *kind);
/* Append a finding of rule kind; pid -1 when none. The returned record has fd -1, ct -1 and no
 * evidence fields: the caller fills what it knows. */
struct az_finding *az_finding_add(struct az_findings *f, const char *kind, int64_t pid, const char *path,
				  size_t plen, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The container a process (pid) or a path (pid -1) belongs to: the bundle holds one container,
 * named in its manifest (its name, else its id); NULL when unknown. */
const char *az_row_container(const struct az_model *m, int64_t pid);
/* The same for a finding: a pod's path findings are of the container whose upperdir holds them. */
const char *az_finding_container(const struct az_model *m, const struct az_finding *x);
/* An inet endpoint as "addr:port", IPv6 in brackets ("[::]:8080"). */
void az_endpoint(char *out, size_t outlen, const char *addr, int64_t port);

#endif
