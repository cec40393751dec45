/* The filters the views share: --pid, --container, --path GLOB, --min-severity. One module, so
 * every view selects rows the same way; a row's container comes from az_row_container. */
#ifndef AZ_FILTER_H
#define AZ_FILTER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct az_filter {
	int64_t pid;		   /* -1: any */
	const char *container;	   /* NULL: any; else a name or an id (a prefix of it) */
	const char *path;	   /* NULL: any; else an fnmatch glob over the row's path */
	int min_sev;		   /* -1: any; else enum az_sev (rows at least that severe) */
	const char *since, *until; /* NULL: open; ISO 8601 UTC, or +N/-N[smhd] from the capture start */
};
#define AZ_FILTER_NONE ((struct az_filter){.pid = -1, .min_sev = -1})

/* Parse one option (the getopt letter main.c gives it: P, C, G, M): 0, or -1 on a bad value. */
int az_filter_option(struct az_filter *f, int letter, const char *arg);

struct az_model;
struct az_findings;
/* Does a row of pid / path (path NULL: none) pass? pid -1: a row about no process (it passes a
 * --pid filter only when the filter is unset). */
bool az_filter_row(const struct az_filter *f, const struct az_model *m, int64_t pid, const char *path);
/* Keep in m only the rows the filter selects (processes, fds, sockets, upperdir entries), for the
 * views that list rows (ps, fds, net, files, timeline). Rows about no process go under --pid;
 * sockets follow their owners; --since/--until select processes by start time and upperdir
 * entries by mtime or ctime. -1 when a time does not parse (err set). */
int az_filter_model(const struct az_filter *f, struct az_model *m, char *err, size_t errlen);
/* Drop the findings the filter refuses (keeping the order). */
void az_filter_findings(const struct az_filter *f, const struct az_model *m, struct az_findings *v);

#endif
