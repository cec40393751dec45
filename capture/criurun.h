/* Running criu for the criu collector (criu.c): the command line of one request, run here or, for
 * a hardened serve, by the runner forked before any secret is read and long before the seccomp
 * allowlist is loaded (CRIU cannot work under a filter: docs/memory.md, "CRIU"). */
#ifndef AI_CRIURUN_H
#define AI_CRIURUN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/err.h"

/* What one run of criu is asked. The runner (serve --criu, hardened) is sent exactly this and
 * builds the argv itself: whoever controls the capture process cannot make it exec anything else. */
enum ai_criu_op { AI_CRIU_VERSION, AI_CRIU_CHECK, AI_CRIU_DUMP, AI_CRIU_NOPS };
struct ai_criu_req {
	uint32_t op;
	int32_t pid;	      /* AI_CRIU_DUMP: the tree's root */
	uint32_t shell_job;   /* AI_CRIU_DUMP: --shell-job */
	uint64_t ghost_limit; /* AI_CRIU_DUMP: --ghost-limit */
};
struct ai_criu_reply {
	int32_t status; /* wait status; meaningful when !timed_out && !spawn_failed */
	uint8_t timed_out, spawn_failed;
	int32_t spawn_errno;
};

#define AI_CRIU_MAX_EXT 256 /* external mounts named on the command line */

/* One argv and the storage its strings point into. */
struct ai_criu_argv {
	char pid[32], ghost[32];
	char ext[AI_CRIU_MAX_EXT][2 * 256 + 2]; /* "MOUNTPOINT:MOUNTPOINT" */
	const char *argv[64 + 2 * AI_CRIU_MAX_EXT];
};

/* The first criu in an absolute directory of PATH, into out; false when none. */
bool ai_criu_find(char *out, size_t len);
/* The argv of q into a (its strings point into a), criu being argv[0]: the dump's options are
 * documented in docs/memory.md; images and work name the directories given to criu. */
void ai_criu_build_argv(const char *criu, const struct ai_criu_req *q, const char *images, const char *work,
			struct ai_criu_argv *a);
/* Run criu for q (through the runner once ai_criu_runner_start succeeded): stdin /dev/null,
 * stdout and stderr into out_fd; images_fd and work_fd are its directories. */
void ai_criu_exec(const struct ai_criu_req *q, int images_fd, int work_fd, int out_fd,
		  struct ai_criu_reply *rep);
/* Fork the runner (serve --criu, hardened): later ai_criu_exec calls go to it. */
int ai_criu_runner_start(ai_err_t *err);

#endif
