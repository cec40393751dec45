#!/usr/bin/env bash
# afterimage-analyze against hostile bundles and images (robustness matrix A-01..A-08), written by
# tests/fixtures/hostile-inputs.py and signed with a fresh key wherever a signature matters, so a
# refusal can only come from what was made hostile: traversal, absolute and duplicate members,
# bundles cut at ten offsets, 100,000-deep JSON under a 256 KiB stack, members claiming 100 GB or
# 1 GiB, 255 MiB of JSON spaces in a 10 KB zstd bundle, a 1 MiB gzip layer of 1 GiB and a 1 MiB zstd
# layer of 32 GiB, OCI digests that climb out of blobs/, blobs that are symlinks, index loops, and a
# manifest blob that is not what its digest names. An inotify watch (tests/fixtures/fswatch.py) on
# the canary every traversal aims at shows it is never opened. Every run is bounded by `timeout`
# and must exit with a code, never a signal. Runs as well under the sanitizer build ($BUILD).
. "$(dirname "$0")/../lib.sh"
t_require_analyze
t_require_capture
A=$ANALYZE
H=$T_TMP/h
mkdir -p "$H"
"$CAPTURE" keygen -o "$H/k" >/dev/null || t_bail "keygen"
t_ok "write the hostile inputs" python3 "$FIXTURES/hostile-inputs.py" "$H" "$H/k.key" "$H/k.pub"
B=$H/b
CAN=$H/canary
t_diag "build $BUILD$([[ $(ldd "$A" 2>/dev/null) == *libasan* ]] && echo ' (ASan)')"

# run NAME TIMEOUT ARGS...: afterimage-analyze ARGS under timeout and GNU time, in an empty working
# directory; sets RC, SECS, RSS (KiB); stdout and stderr in $T_TMP/NAME.{out,err}.
RUNS=0
run() {
	local n=$1 to=$2 t0
	shift 2
	mkdir -p "$T_TMP/cwd"
	t0=$(date +%s.%N)
	(cd "$T_TMP/cwd" && timeout "$to" /usr/bin/time -f %M -o "$T_TMP/$n.rss" "$A" "$@" >"$T_TMP/$n.out" 2>"$T_TMP/$n.err")
	RC=$?
	SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	RSS=$(tail -n 1 "$T_TMP/$n.rss" 2>/dev/null)
	RUNS=$((RUNS + 1))
	if grep -q 'Command terminated by signal' "$T_TMP/$n.rss" 2>/dev/null; then RC=$((128 + $(grep -o 'signal [0-9]*' "$T_TMP/$n.rss" | cut -d' ' -f2))); fi
}
err() { cat "$T_TMP/$1.err"; }
WPID=
watch_start() {
	local i
	rm -f "$1" "$1.ready"
	python3 "$FIXTURES/fswatch.py" "$@" 2>"$1.err" &
	WPID=$!
	t_cleanup "kill $WPID"
	for ((i = 0; i < 200; i++)); do
		[[ -e $1.ready ]] && return 0
		kill -0 "$WPID" 2>/dev/null || break
		sleep 0.05
	done
	t_bail "inotify watch set" "$(cat "$1.err")"
}
watch_stop() {
	sleep 0.2
	kill "$WPID" 2>/dev/null
	wait "$WPID" 2>/dev/null
	touch "$1"
}

run good 30 verify "$B/good.tar" --pub "$H/k.pub"
t_eq "the untouched signed bundle verifies (exit 0): every refusal below is the hostile part's" 0 "$RC"

# ---- A-01: traversal, absolute names, duplicates
t_case A-01 "signed bundles holding ../../X, fs/upper/../../../X, an absolute member, hardlinks to ../../canary and /canary, a file written through a symlink member to a host directory, a duplicated processes.json and upper file"
watch_start "$T_TMP/w1" "$CAN"
before=$(cd "$H" && find . -path ./b -prune -o -print | sort | sha256sum)
refused= vrcs=
for b in trav-dotdot trav-mid trav-abs trav-hl-dotdot trav-hl-abs; do
	run "v-$b" 30 verify "$B/$b.tar" --pub "$H/k.pub"
	vrcs+="$RC "
	t_eq "$b: verify exits 1" 1 "$RC"
	t_match "$b: verify FAILs naming the member (the format's names are relative, no '..')" \
		'FAIL member (\.\./\.\./A01-dotdot|fs/upper/\.\./\.\./\.\./A01-mid|/.*/outside/A01-abs|fs/upper/hl)' "$(err "v-$b")"
done
for b in trav-dotdot trav-mid trav-abs trav-hl-dotdot trav-hl-abs trav-through-symlink dup-json dup-upper; do
	run "x-$b" 30 extract "$B/$b.tar" -o "$T_TMP/x-$b"
	t_eq "$b: extract refuses (exit 3)" 3 "$RC"
	t_match "$b: and names the member" 'member [^ ]+: ' "$(err "x-$b")"
	[[ $RC == 3 ]] && refused+="$b "
	for c in ps files findings; do
		run "$c-$b" 30 "$c" "$B/$b.tar"
		t_match "$b: $c exits 0 or 3, never a signal" '^[03]$' "$RC"
	done
	run "r-$b" 30 report "$B/$b.tar" -o "$T_TMP/r-$b.html" --quiet
	t_match "$b: report exits 0 or 3" '^[03]$' "$RC"
	run "t-$b" 30 timeline "$B/$b.tar" --format bodyfile
	t_match "$b: timeline exits 0 or 3" '^[03]$' "$RC"
done
run v-dup 30 verify "$B/dup-json.tar" --pub "$H/k.pub"
t_match "dup-json: verify names the duplicate" 'FAIL member processes.json: appears more than once' "$(err v-dup)"
run ps-dup 30 ps "$B/dup-json.tar"
t_match "dup-json: the views refuse it (exit 3), naming it" '^3 .*member processes.json appears twice' "$RC $(err ps-dup)"
watch_stop "$T_TMP/w1"
t_empty "no A01-* file anywhere outside the output directories" \
	"$(find "$ROOT/tests/tmp" -maxdepth 1 -name 'A01-*'; find "$T_TMP" -name 'A01-*' -not -path "$T_TMP/x-*")"
t_empty "nothing written into the host directory the symlink pointed to" "$(ls -A "$H/outside")"
t_eq "the canary has one link still (no hardlink made to it)" 1 "$(stat -c %h "$CAN")"
t_eq "nothing else appeared beside the inputs (views write only their -o)" "$before" \
	"$(cd "$H" && find . -path ./b -prune -o -print | sort | sha256sum)"
t_empty "the canary was never opened (inotify)" "$(cat "$T_TMP/w1")"
t_case_end "extract refuses each, naming the member; views exit 0 or 3 and write nothing outside; verify FAILs the duplicates; verify of the validly signed ../, absolute and hardlink-target names: exit ${vrcs% } (1 wanted)" \
	"${RUNS} runs; refused by extract: ${refused% }"

# ---- A-02: truncated bundles
t_case A-02 "the signed bundle cut at 10 offsets: empty, 1, 511, 512, 513 bytes, inside processes.json, inside a 100 KB member, before and inside the end-of-archive blocks, the last byte"
codes= maxs=0
while read -r label off; do
	f=$B/cut-$label.tar
	run "cv-$label" 30 verify "$f" --pub "$H/k.pub"
	t_eq "cut $label ($off bytes): verify exits 1" 1 "$RC"
	t_match "cut $label: a FAIL line, the outer signature or the archive named" 'FAIL (outer signature|archive|member)' "$(err "cv-$label")"
	want=3
	[[ $label == before-eof-blocks || $label == one-eof-block || $label == last-byte-gone ]] && want=0
	for c in ps files; do
		run "c$c-$label" 30 "$c" "$f"
		codes+="$RC"
		t_eq "cut $label: $c exits $want ($([[ $want == 0 ]] && echo 'every member whole' || echo 'a member or the archive cut'))" "$want" "$RC"
		if [[ $RC == 3 ]]; then
			t_match "cut $label: $c says what is wrong" '(Truncated|Unrecognized archive format|unreadable)' "$(err "c$c-$label")"
			t_empty "cut $label: $c's message does not blame a wide character (libarchive's format errno taken for errno)" \
				"$(grep -i 'multibyte or wide character' "$T_TMP/c$c-$label.err")"
		fi
		maxs=$(awk -v a="$maxs" -v b="$SECS" 'BEGIN { print (b > a ? b : a) }')
	done
	run "cx-$label" 30 extract "$f" -o "$T_TMP/cx-$label"
	t_match "cut $label: extract exits 0 or 3" '^[03]$' "$RC"
done <"$H/cuts"
t_case_end "verify exit 1 with the failure named at every offset; views exit 3 naming the truncation, 0 when the cut leaves every member whole (verify still fails the signature)" \
	"views' exit codes by offset: $codes; slowest ${maxs} s"

# ---- A-03: 100,000-deep JSON
t_case A-03 "processes.json, fs/upper.json, a signed manifest.json and an image's index.json nested 100,000 deep (arrays, objects), under a 256 KiB stack"
fig=
for b in deep-array deep-object deep-upper; do
	for c in ps files findings; do
		(ulimit -s 256 && run "$c-$b" 30 "$c" "$B/$b.tar" && echo "$RC $SECS $RSS" >"$T_TMP/$c-$b.res")
		read -r rc secs rss <"$T_TMP/$c-$b.res"
		t_eq "$b: $c refuses it (exit 3) with a 256 KiB stack" 3 "$rc"
		t_match "$b: $c names the depth limit" 'maximum parsing depth reached' "$(err "$c-$b")"
	done
	fig+="$b: ${secs} s, ${rss} KiB; "
done
run v-deep 30 verify "$B/deep-manifest.tar" --pub "$H/k.pub"
t_match "deep manifest.json: verify exits 1 and FAILs it" '^1 .*FAIL manifest.json: .*maximum parsing depth' "$RC $(err v-deep | tr '\n' ' ')"
(ulimit -s 256 && run l-deep 30 layers "$B/good.tar" --image "oci:$H/img/deep-index" && echo "$RC" >"$T_TMP/l-deep.res")
t_match "deep index.json: layers refuses it (exit 3)" '^3 .*index.json: .*maximum parsing depth' "$(cat "$T_TMP/l-deep.res") $(err l-deep)"
t_case_end "refused at depth 2,048 (jansson's limit) with \"maximum parsing depth reached\" and the byte offset; exit 3 (verify: FAIL, exit 1)" "${fig%; }"

# ---- A-04: size bombs
t_case A-04 "a processes.json claiming 100 GB in a 68 KB file; a 1 GiB fs/upper.json (a hole on disk); 1 GiB and 255 MiB of JSON spaces in 35 KB and 10 KB zstd bundles"
run claim 30 ps "$B/claim-100g.tar"
t_match "100 GB claim: refused at once by its header (exit 3)" '^3 .*107374182400 bytes, more than the limit of 268435456' "$RC $(err claim)"
fig="100 GB claim: ${SECS} s; "
run claimv 30 verify "$B/claim-100g.tar" --pub "$H/k.pub"
t_match "100 GB claim: verify exits 1 naming the truncated member" '^1 .*FAIL member processes.json: unreadable' "$RC $(err claimv | tr '\n' ' ')"
run sparse 30 files "$B/sparse-1g.tar"
t_match "1 GiB fs/upper.json: refused by its header, nothing read (exit 3)" '^3 .*1073741824 bytes, more than the limit' "$RC $(err sparse)"
t_ok "1 GiB fs/upper.json: in well under a second (${SECS} s)" awk -v s="$SECS" 'BEGIN { exit !(s < 5) }'
fig+="1 GiB upper.json: ${SECS} s, ${RSS} KiB; "
run sp1g 30 ps "$B/spaces-1g.tar.zst"
t_match "1 GiB of spaces (zstd): refused by its header, never decompressed (exit 3)" '^3 .*1073741824 bytes, more than the limit' "$RC $(err sp1g)"
fig+="1 GiB spaces: ${SECS} s, ${RSS} KiB; "
run sp255 60 ps "$B/spaces-255m.tar.zst"
t_eq "255 MiB of spaces then {\"processes\":[]} (under the 256 MiB limit): read and parsed, exit 0" 0 "$RC"
t_ok "255 MiB of spaces: peak RSS bounded by the member limit (${RSS} KiB < 768 MiB)" test "${RSS:-9999999}" -lt $((768 << 10))
fig+="255 MiB spaces: ${SECS} s, ${RSS} KiB"
t_case_end "a member over 256 MiB refused by its header before any byte is read; under it, held once: RSS about the member's size" "$fig"

# ---- A-05: compression bombs in image layers
t_case A-05 "an OCI layer of 1 MiB gzip expanding to a 1 GiB file the bundle's upper also has (so it is hashed), and one of 1 MiB zstd expanding to a 32 GiB file (skipped)"
run gz 60 layers "$B/bomb.tar" --image "oci:$H/img/gzip-bomb" --json
gzsz=$(du -b "$H"/img/gzip-bomb/blobs/sha256/* | sort -n | tail -1 | cut -f1)
t_match "gzip bomb: attributed (exit 0) or refused (exit 3), within 60 s" '^[03]$' "$RC"
t_eq "gzip bomb: the 1 GiB file was hashed whole as it streamed" 49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14 \
	"$(jq -r '.paths[] | select(.path=="/bomb") | .lower_sha256' "$T_TMP/gz.out" 2>&1)"
t_ok "gzip bomb: peak RSS bounded (${RSS} KiB < 128 MiB)" test "${RSS:-9999999}" -lt $((128 << 10))
fig="gzip ${gzsz} B -> 1 GiB hashed: ${SECS} s, ${RSS} KiB; "
run zs 60 layers "$B/bomb.tar" --image "oci:$H/img/zstd-bomb" --json
zssz=$(du -b "$H"/img/zstd-bomb/blobs/sha256/* | sort -n | tail -1 | cut -f1)
t_match "zstd bomb: attributed (exit 0) or refused (exit 3), within 60 s" '^[03]$' "$RC"
t_ok "zstd bomb: peak RSS bounded (${RSS} KiB < 128 MiB)" test "${RSS:-9999999}" -lt $((128 << 10))
t_eq "zstd bomb: the layer was read to its end (its digest checked: the path from it is attributed to layer 1)" "/elsewhere" \
	"$(jq -r '.paths[] | select(.layer==1) | .path' "$T_TMP/zs.out" 2>&1 | head -1)"
fig+="zstd ${zssz} B -> 32 GiB skipped: ${SECS} s, ${RSS} KiB"
t_case_end "streamed: memory stays flat, the expanded bytes are read through (hashed only when the path matters); no cap on the expansion, so time grows with it" "$fig"

# ---- A-06: digests and blob paths that climb out
t_case A-06 "OCI index, manifest and config digests sha256:../../../canary, ../../etc/passwd, /etc/passwd, HEX/../.., uppercase, sha512, 63 hex, trailing LF, empty, null, a number; blobs/sha256/X a symlink to the canary; blobs/ a symlink; docker-archive layers and config at ../.. and absolute paths, layer.tar symlinks out of the archive"
watch_start "$T_TMP/w6" "$CAN"
n=0
for i in $(seq 0 $(($(cat "$H/digests") - 1))) layer-digest config-digest blob-symlink blobs-dir-symlink; do
	[[ $i == [0-9]* ]] && i=digest-$i
	run "l-$i" 30 layers "$B/good.tar" --image "oci:$H/img/$i"
	t_match "$i: refused (exit 3) with the reason" '^3 .*(invalid digest|Too many levels of symbolic links)' "$RC $(err "l-$i")"
	n=$((n + 1))
done
for i in docker-layer-dotdot docker-config-abs docker-symlink-out docker-symlink-abs; do
	run "l-$i" 30 layers "$B/good.tar" --image "docker-archive:$H/img/$i.tar"
	t_match "$i: refused (exit 3) with the reason" '^3 .*(no member|symlink leaves the archive|unsafe symlink)' "$RC $(err "l-$i")"
	n=$((n + 1))
done
run l-plain 30 layers "$B/good.tar" --image "oci:$H/img/plain"
t_eq "the same image with sane digests is read (exit 0)" 0 "$RC"
watch_stop "$T_TMP/w6"
t_empty "the canary was never opened (inotify)" "$(cat "$T_TMP/w6")"
t_case_end "every digest not sha256:<64 lowercase hex> refused before any open; blobs opened beneath the image directory without symlinks (openat2 RESOLVE_BENEATH|NO_SYMLINKS); docker-archive members resolved inside the archive only" \
	"$n images refused, exit 3; canary opens: $(wc -l <"$T_TMP/w6")"

# ---- A-07: index loops
t_case A-07 "OCI indexes nesting without end: an index naming itself, two naming each other, a chain of 6, a self-naming index of 20,000 entries"
fig=
for i in loop-self loop-pair loop-chain loop-wide; do
	run "l-$i" 30 layers "$B/good.tar" --image "oci:$H/img/$i"
	# a document that names itself cannot hash to its own digest: the digest check refuses most
	# loops before the nesting limit does; either way it is refused, at once
	t_match "$i: refused (exit 3): a digest mismatch or nested index without a usable manifest" \
		'^3 .*(does not match its digest|nested index without a usable manifest)' "$RC $(err "l-$i")"
	t_ok "$i: at once (${SECS} s)" awk -v s="$SECS" 'BEGIN { exit !(s < 5) }'
	fig+="$i ${SECS} s ${RSS} KiB; "
done
t_case_end "refused naming the blob, exit 3: a self-naming document fails its digest check, nesting is followed 4 levels at most" "${fig%; }"

# ---- A-08: a document blob that is not what its digest says
t_case A-08 "an OCI manifest blob changed after the fact (its bytes no longer hash to the digest index.json names)"
run l-mm 30 layers "$B/good.tar" --image "oci:$H/img/manifest-mismatch"
t_eq "a manifest whose sha256 is not its digest: refused (exit 3)" 3 "$RC"
t_match "and the message says which blob does not match" 'does not match|digest' "$(err l-mm)"
if [[ $RC == 0 ]]; then
	out="accepted: layers exit 0, the changed manifest used as it is (only layer blobs are checked against their digests)"
else
	out="layers exit $RC: $(head -c 160 "$T_TMP/l-mm.err" | tr '\n' ' ')"
fi
t_case_end "$out" "${SECS} s"
