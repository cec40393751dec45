#!/usr/bin/env bash
# The upperdir walk stays on the upper layer's filesystem: something the host mounts inside a
# container's upperdir (a tmpfs here) is recorded as a skipped directory, never walked or stored,
# and the capture stays complete.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_case C-09 'a tmpfs mounted by the host inside the container'\''s upperdir'

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
t_target "ai-upmnt-$$"
P=$T_TARGET_PID
UPPER=$(podman inspect -f '{{.GraphDriver.Data.UpperDir}}' "$T_TARGET_NAME")
[[ -d $UPPER ]] || t_bail "upperdir of the target" "$UPPER"
mkdir -p "$UPPER/hostmnt"
t_ok "mount a tmpfs inside the container's upperdir" mount -t tmpfs -o size=1m none "$UPPER/hostmnt"
t_cleanup "umount $(printf '%q' "$UPPER/hostmnt")"
echo "not the container's" >"$UPPER/hostmnt/foreign.txt"
"$CAPTURE" keygen -o "$T_TMP/k" >/dev/null
t_ok "snapshot with a mount inside the upperdir" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$T_TMP" --name b
X=$T_TMP/x
mkdir -p "$X"
tar -xf "$T_TMP/b.tar" -C "$X"
t_eq "the mounted directory is indexed with why it was not walked" "another filesystem is mounted here: not walked" \
	"$(jq -r '.entries[]? // .[]? | select(.path=="/hostmnt") | .error' "$X/fs/upper.json" 2>/dev/null | head -n 1)"
t_ok "nothing from the foreign mount is stored" test ! -e "$X/fs/upper/hostmnt/foreign.txt"
t_match "the skip is in the capture log" "another filesystem is mounted here" \
	"$(jq -c '.events[] | select(.level=="skip")' "$X/capture-log.json")"
t_eq "the bundle is still complete" true "$(jq -r .complete "$X/manifest.json")"
t_case_end 'the walk never enters another filesystem: recorded as a skip, nothing of it stored, complete' "whole test: ${SECONDS} s"
