/* afterimage-capture trigger: the client of serve's unix trigger socket. */
#include "capture/sidecar.h"
#include "common/cleanup.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int ai_trigger(const char *socket_path, const char *cmd, struct ai_buf *reply, ai_err_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return ai_err_set(err, 0, "socket path too long");
	strcpy(sa.sun_path, socket_path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ai_err_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return ai_err_set(err, errno, "connect %s", socket_path);
	cleanup_buf struct ai_buf line;
	ai_buf_init(&line);
	ai_buf_printf(&line, "%s\n", cmd);
	if (send(fd, line.data, line.len, MSG_NOSIGNAL) != (ssize_t)line.len)
		return ai_err_set(err, errno, "send");
	char buf[4096];
	ssize_t n;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		ai_buf_add(reply, buf, (size_t)n);
	if (n < 0)
		return ai_err_set(err, errno, "recv");
	if (!reply->len)
		return ai_err_set(err, 0, "no reply from %s", socket_path);
	return 0;
}
