#!/usr/bin/env bash
# The fixture itself: the test image and a running workload container really hold every piece of
# evidence the capture tests look for, checked with host tools only (podman, ss, /proc, stat,
# getfattr). If this fails, the capture tests' failures mean nothing.
. "$(dirname "$0")/../lib.sh"

IMAGE=localhost/afterimage-test:3

t_ok "build the 3-layer test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
t_eq "image has exactly 3 layers" 3 "$(podman image inspect -f '{{len .RootFS.Layers}}' "$IMAGE" 2>&1)"
t_eq "image Cmd is /usr/bin/workload" '[/usr/bin/workload]' "$(podman image inspect -f '{{.Config.Cmd}}' "$IMAGE" 2>&1)"
t_match "each layer has a created_by history entry" \
	'layer 1:.*layer 2:.*layer 3:' "$(podman image inspect -f '{{range .History}}{{.CreatedBy}};{{end}}' "$IMAGE" 2>&1)"

t_target "ai-fixture-$$"
P=$T_TARGET_PID
NAME=$T_TARGET_NAME
t_match "target pid is a live process" '^[0-9]+$' "$(cat "/proc/$P/stat" 2>/dev/null | cut -d' ' -f1)"

# ---- processes: pid 1 is the workload shell; sh -> sh -> sleep; holders from upper/deleted exe
kids() { pgrep -P "$1" | tr '\n' ' '; }
comm() { cat "/proc/$1/comm" 2>/dev/null; }
two_level=
for c in $(kids "$P"); do
	for g in $(kids "$c"); do
		[[ $(comm "$c") == sleep || $(comm "$c") == sh ]] && [[ $(comm "$g") == sleep ]] &&
			[[ $(tr '\0' ' ' <"/proc/$g/cmdline") == "sleep 100001 " ]] && two_level="$c>$g"
	done
done
t_match "2-level process tree (init -> sh -> sleep 100001)" '^[0-9]+>[0-9]+$' "$two_level"
holder=$(pgrep -P "$P" -x holder | head -1)
t_match "holder runs as a child of the workload" '^[0-9]+$' "$holder"
t_eq "holder's exe is the lower-layer /usr/bin/holder" /usr/bin/holder "$(readlink "/proc/$holder/exe")"
up=$(pgrep -P "$P" -x holder-upper | head -1)
t_eq "a process runs from an upperdir exe" /data/holder-upper "$(readlink "/proc/${up:-0}/exe" 2>&1)"
del=$(pgrep -P "$P" -x holder-deleted | head -1)
t_eq "a process runs from a deleted exe" "/tmp/holder-deleted (deleted)" "$(readlink "/proc/${del:-0}/exe" 2>&1)"

# ---- fds
t_eq "init fd 3 is a deleted-but-open file" "/tmp/deleted.txt (deleted)" "$(readlink "/proc/$P/fd/3")"
t_eq "deleted file still readable through the fd" "to-be-deleted" "$(cat "/proc/$P/fd/3")"
t_eq "init fd 4 is /data/log.txt (append)" /data/log.txt "$(readlink "/proc/$P/fd/4")"
t_eq "init fd 5 is the lower-layer /bin/busybox" /bin/busybox "$(readlink "/proc/$P/fd/5")"
memfd=
for fd in /proc/"$holder"/fd/*; do
	[[ $(readlink "$fd") == "/memfd:afterimage-memfd (deleted)" ]] && memfd=$fd
done
t_match "holder has the memfd afterimage-memfd open" '^/proc/[0-9]+/fd/[0-9]+$' "$memfd"
t_eq "memfd holds its evidence" "memfd-evidence" "$(cat "${memfd:-/nonexistent}" 2>&1)"

# ---- sockets in the target's netns
ss_in() { nsenter -t "$P" -n ss -H "$@" 2>&1; }
t_match "TCP LISTEN on :8080 is IPv6 dual-stack (tcp6 only)" 'LISTEN +[0-9]+ +[0-9]+ +\*:8080 .*"httpd"' "$(ss_in -6 -tlnp)"
t_empty "nothing listens on 8080 over IPv4 (busybox binds ::)" "$(ss_in -4 -tln 'sport = :8080')"
t_match "TCP LISTEN on 127.0.0.1:9090 is IPv4 only" 'LISTEN +[0-9]+ +[0-9]+ +127\.0\.0\.1:9090 .*"nc"' "$(ss_in -4 -tlnp)"
t_match "an ESTABLISHED loopback connection to 9090" \
	'ESTAB +[0-9]+ +[0-9]+ +127\.0\.0\.1:[0-9]+ +127\.0\.0\.1:9090 .*"nc"' "$(ss_in -4 -tanp)"
t_match "its server side is held by the nc child (cat)" \
	'ESTAB +[0-9]+ +[0-9]+ +127\.0\.0\.1:9090 +127\.0\.0\.1:[0-9]+ .*"cat"' "$(ss_in -4 -tanp)"
t_match "UDP bound on 0.0.0.0:5353 by holder" '0\.0\.0\.0:5353 .*"holder"' "$(ss_in -4 -uanp)"
t_match "UNIX stream LISTEN at /run/holder.sock" 'LISTEN .*/run/holder\.sock .*"holder"' "$(ss_in -xlp)"
t_match "abstract UNIX LISTEN at @afterimage-abstract" 'LISTEN .*@afterimage-abstract .*"holder"' "$(ss_in -xlp)"

# ---- the overlay upperdir
U=$(podman inspect -f '{{.GraphDriver.Data.UpperDir}}' "$NAME" 2>&1)
t_ok "upperdir is a directory ($U)" test -d "$U"
t_match "the root overlay mount names that upperdir" " / .* overlay .*upperdir=$U," "$(cat "/proc/$P/mountinfo")"
t_eq "new file data/written.txt" evidence-upper "$(cat "$U/data/written.txt" 2>&1)"
t_eq "hardlink data/hardlink.txt shares its inode" \
	"$(stat -c %i "$U/data/written.txt" 2>&1)" "$(stat -c %i "$U/data/hardlink.txt" 2>&1)"
t_eq "written.txt has 2 links" 2 "$(stat -c %h "$U/data/written.txt" 2>&1)"
t_eq "copy-up of etc/config.txt (layer-2 text + append)" \
	"$(printf 'config-from-layer-2\nappended-by-container')" "$(cat "$U/etc/config.txt" 2>&1)"
t_eq "hello.sh is a char 0/0 whiteout" "character special file 0:0" \
	"$(stat -c '%F %t:%T' "$U/hello.sh" 2>&1)"
t_eq "etc/app is an opaque dir (trusted.overlay.opaque=y)" y \
	"$(getfattr --absolute-names --only-values -n trusted.overlay.opaque "$U/etc/app" 2>&1)"
t_eq "opaque etc/app holds only new.conf" new.conf "$(cd "$U/etc/app" 2>&1 && ls -A)"
t_eq "etc/app/app.conf is hidden in the container" 1 \
	"$(podman exec "$NAME" sh -c 'test -e /etc/app/app.conf; echo $?' 2>&1)"
t_match "old-atime.txt has its atime in 2001" '^2001-01-01 00:00:00' "$(stat -c %x "$U/data/old-atime.txt" 2>&1)"
t_match "old-atime.txt has a current mtime" "^$(date -u +%Y)-" "$(TZ=UTC stat -c %y "$U/data/old-atime.txt" 2>&1)"
t_eq "data/evil-link -> /etc/shadow (absolute, not followed)" /etc/shadow "$(readlink "$U/data/evil-link")"
t_eq "data/escape -> ../../../../../../etc" ../../../../../../etc "$(readlink "$U/data/escape")"
bad=$(printf '%s/data/bad\nname\377' "$U")
t_ok "data/bad<LF>name<FF> exists (hostile name)" test -f "$bad"
t_eq "data/fifo is a FIFO" "fifo" "$(stat -c %F "$U/data/fifo" 2>&1)"
t_eq "run/holder.sock is a socket in the upperdir" socket "$(stat -c %F "$U/run/holder.sock" 2>&1)"
t_ok "data/holder-upper is an executable in the upperdir" test -x "$U/data/holder-upper"
t_ok "bin/ls was deleted in layer 3" podman exec "$NAME" sh -c '! test -e /bin/ls'
t_eq "layer-2 /etc/passwd has user app" "app:x:1000:1000:app:/home/app:/bin/sh" \
	"$(podman exec "$NAME" grep '^app:' /etc/passwd 2>&1)"

# Last, as it spoils old-atime.txt: the atime test of the capture means something only if an
# O_NOATIME read keeps the 2001 atime and a plain read (relatime: atime < mtime) bumps it.
t_ok "an O_NOATIME read of old-atime.txt (dd iflag=noatime)" \
	dd if="$U/data/old-atime.txt" of=/dev/null iflag=noatime status=none
t_match "... keeps its 2001 atime" '^2001-01-01 ' "$(stat -c %x "$U/data/old-atime.txt" 2>&1)"
if [[ ,$(findmnt -no OPTIONS -T "$U"), == *,noatime,* ]]; then
	t_skip "a plain read bumps the atime" "the storage is mounted noatime: atime tests prove nothing here"
else
	cat "$U/data/old-atime.txt" >/dev/null
	t_match "a plain read bumps it (so a capture without O_NOATIME would)" "^$(date -u +%Y)-" \
		"$(TZ=UTC stat -c %x "$U/data/old-atime.txt" 2>&1)"
fi

t_ok "stop the target" bash "$FIXTURES/stop-target" "$NAME"
t_fail "target is gone" podman container exists "$NAME"
