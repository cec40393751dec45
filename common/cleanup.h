/* Cleanup attributes for every resource type (crun's utils.h, bubblewrap's steal_pointer). */
#ifndef AI_CLEANUP_H
#define AI_CLEANUP_H
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void ai_freep(void *p)
{
	void **pp = p;
	free(*pp);
}
static inline void ai_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void ai_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void ai_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define cleanup_free	 __attribute__((cleanup(ai_freep)))
#define cleanup_close	 __attribute__((cleanup(ai_closep)))
#define cleanup_fclose	 __attribute__((cleanup(ai_fclosep)))
#define cleanup_closedir __attribute__((cleanup(ai_closedirp)))

static inline void *ai_steal_pointer(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}
static inline int ai_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}
#define steal_pointer(pp) ai_steal_pointer(pp)
#define steal_fd(fdp)	  ai_steal_fd(fdp)

#endif
