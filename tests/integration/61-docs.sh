#!/usr/bin/env bash
# Documentation an analyst follows without us:
#   - the man pages render without a warning from groff -ww and document every option each binary
#     accepts (scripts/man-check: from the option tables in the source and from every --help),
#     and every option the tables define is in its command's --help;
#   - docs/quickstart.md is what scripts/quickstart writes from a real run: run again, it shows the
#     same commands, and every one of them exits as the page says;
#   - docs/kubernetes/pod.yaml names the sidecar's image by digest, never by tag.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_require_analyze

# ---- man pages: each check of scripts/man-check is one check here
out=$(bash "$ROOT/scripts/man-check" "$BUILD" 2>&1)
n=0
while IFS= read -r line; do
	case $line in
	"ok - "*) t_eq "man: ${line#ok - }" ok ok; n=$((n + 1)) ;;
	"not ok - "*) t_eq "man: ${line#not ok - }" present missing; n=$((n + 1)) ;;
	esac
done <<<"$out"
t_ok "man-check ran its checks ($n)" test "$n" -ge 100
t_match "man-check's summary" 'man-check: [0-9]+ passed, [0-9]+ failed' "$out"
for p in afterimage-capture afterimage-analyze; do
	rendered=$(MANWIDTH=80 man -l "$ROOT/docs/$p.1" 2>&1 >/dev/null)
	t_empty "man -l docs/$p.1: nothing on stderr" "$rendered"
done

# ---- the quickstart: regenerate, compare the commands
if [[ $(file -b "$CAPTURE") != *"statically linked"* ]]; then
	t_skip "quickstart" "a sanitizer build: docs/quickstart.md is written from the release build"
else
	t_ok "scripts/quickstart runs every command of the page, each exiting as the page says" \
		bash "$ROOT/scripts/quickstart" "$BUILD" --out "$T_TMP/quickstart.md"
	cmds() { grep -E '^\$ ' "$1" | grep -v '^\$ echo \$?$'; }
	t_eq "docs/quickstart.md shows the commands scripts/quickstart runs (else: bash scripts/quickstart)" \
		"$(cmds "$T_TMP/quickstart.md")" "$(cmds "$ROOT/docs/quickstart.md")"
	t_match "the page shows a real capture's answer" '"bundle":"\./web\.tar","sha256":"[0-9a-f]{64}","complete":true' \
		"$(cat "$ROOT/docs/quickstart.md")"
	t_match "the page shows stock minisign verifying it" 'Signature and comment signature verified' \
		"$(cat "$ROOT/docs/quickstart.md")"
	t_match "the page shows the analyzer's verdict" 'verified: web\.tar \(key id [0-9A-F]{16}\)' \
		"$(cat "$ROOT/docs/quickstart.md")"
fi

# ---- the pod manifest pins the image
img=$(grep -E '^ *image: *[^ ]*/afterimage-capture' "$ROOT/docs/kubernetes/pod.yaml" | sed 's/^ *image: *//')
t_match "docs/kubernetes/pod.yaml names the sidecar's image by digest" '^[^ @:]+(:[0-9]+)?/[^ @]*afterimage-capture@sha256:[0-9a-f]{64}$' "$img"
t_match "README: the Releases paragraph points at make release and verify-release" \
	'make release.*scripts/verify-release' "$(tr '\n' ' ' <"$ROOT/README.md")"
