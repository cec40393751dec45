#!/usr/bin/env bash
# Shipping: afterimage's own artifacts are reproducible, pinned, described and signed.
#   - make image: the FROM-scratch image holds exactly the static binary, /etc/passwd and
#     /etc/group; the same digest (and the same archive bytes) twice, built with no network;
#     labels from the commit and SOURCE_DATE_EPOCH; no shell in it.
#   - make release, twice, each building both binaries from the source tarball in a directory of
#     its own: every file byte-identical (binaries, image, SBOM, signatures); no build path inside;
#     scripts/verify-release (stock sha256sum and minisign) accepts it and refuses a tampered one.
#   - the SBOM: valid CycloneDX 1.5 (the schema validator of @cyclonedx/cyclonedx-library), every
#     library and object the link maps show listed with its Debian package, version and licence,
#     the image's layer digest, the commit; signed.
#   - the released image, loaded from its oci-archive and run by the digest the release's pod
#     manifest names, as the sidecar of a pod: a preStop-like HTTP trigger captures the target.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_require_analyze
if [[ $(file -b "$CAPTURE") != *"statically linked"* ]]; then
	t_skip "shipping" "$CAPTURE is not static (a sanitizer build): no image, no release from it"
	exit 0
fi
VERSION=$(sed -n 's/^VERSION := //p' "$ROOT/Makefile")
read -r COMMIT SDE < <(bash "$ROOT/scripts/source-info")
ARCHIVE=afterimage-capture-$VERSION.oci.tar

# ---- the image: twice, the same digest; no network
t_case ship-image "make image twice, with no network: the same digest and bytes"
img1=$(cd "$ROOT" && unshare --net make -s --no-print-directory BUILD="$BUILD" image 2>"$T_TMP/img1.err" | tail -n 1)
cp "$BUILD/image/$ARCHIVE" "$T_TMP/img1.tar"
img2=$(cd "$ROOT" && unshare --net make -s --no-print-directory BUILD="$BUILD" image 2>"$T_TMP/img2.err" | tail -n 1)
t_match "make image printed a digest (in a network namespace with no network)" '^sha256:[0-9a-f]{64}$' "$img1"
t_eq "make image twice: the same digest" "$img1" "$img2"
t_ok "make image twice: the same oci-archive bytes" cmp "$T_TMP/img1.tar" "$BUILD/image/$ARCHIVE"
t_case_end "same digest twice" "$img1"

J=$BUILD/image/$ARCHIVE.json
t_eq "the archive's index names the manifest digest" "$img1" \
	"$(tar -xOf "$BUILD/image/$ARCHIVE" index.json | jq -r '.manifests[0].digest')"
mblob=$(tar -xOf "$BUILD/image/$ARCHIVE" "blobs/sha256/${img1#sha256:}")
t_eq "the manifest hashes to its digest" "${img1#sha256:}" "$(printf '%s' "$mblob" | sha256sum | cut -d' ' -f1)"
cfg=$(tar -xOf "$BUILD/image/$ARCHIVE" "blobs/sha256/$(jq -r '.config.digest' <<<"$mblob" | cut -d: -f2)")
t_eq "one layer" 1 "$(jq '.layers | length' <<<"$mblob")"
t_eq "entrypoint: the binary" '["/afterimage-capture"]' "$(jq -c '.config.Entrypoint' <<<"$cfg")"
t_eq "default user 0:0 (documented in docs/kubernetes.md)" "0:0" "$(jq -r '.config.User' <<<"$cfg")"
t_eq "no Env, no Cmd, no builder label" "null null null" \
	"$(jq -r '[.config.Env, .config.Cmd, .config.Labels["io.buildah.version"]] | map(tostring) | join(" ")' <<<"$cfg")"
created=$(date -u -d "@$SDE" +%Y-%m-%dT%H:%M:%SZ)
t_eq "created: SOURCE_DATE_EPOCH, the commit's time" "$created" "$(jq -r '.created' <<<"$cfg")"
for kv in "revision=$COMMIT" "version=$VERSION" "created=$created" "title=afterimage-capture"; do
	t_eq "label org.opencontainers.image.${kv%%=*}" "${kv#*=}" \
		"$(jq -r --arg k "org.opencontainers.image.${kv%%=*}" '.config.Labels[$k]' <<<"$cfg")"
done
t_match "label org.opencontainers.image.source is a URL" '^https?://' \
	"$(jq -r '.config.Labels["org.opencontainers.image.source"]' <<<"$cfg")"
t_eq "the same as manifest annotations" "$COMMIT" "$(jq -r '.annotations["org.opencontainers.image.revision"]' <<<"$mblob")"
layer=$(jq -r '.layers[0].digest' <<<"$mblob")
tar -xOf "$BUILD/image/$ARCHIVE" "blobs/sha256/${layer#sha256:}" >"$T_TMP/layer.tgz"
t_eq "the layer hashes to its digest" "${layer#sha256:}" "$(sha256sum "$T_TMP/layer.tgz" | cut -d' ' -f1)"
listing=$(tar -tzvf "$T_TMP/layer.tgz" --numeric-owner --full-time)
t_eq "the layer holds exactly the binary, /etc, /etc/group, /etc/passwd, in name order" \
	"afterimage-capture etc/ etc/group etc/passwd" "$(awk '{print $6}' <<<"$listing" | paste -sd' ')"
t_eq "every entry owned 0/0" "0/0" "$(awk '{print $2}' <<<"$listing" | sort -u | paste -sd' ')"
t_eq "every entry dated SOURCE_DATE_EPOCH" "$(date -u -d "@$SDE" '+%Y-%m-%d %H:%M:%S')" \
	"$(TZ=UTC tar -tzvf "$T_TMP/layer.tgz" --full-time | awk '{print $4" "$5}' | sort -u | paste -sd' ')"
mkdir -p "$T_TMP/rootfs"
tar -xzf "$T_TMP/layer.tgz" -C "$T_TMP/rootfs"
strip --strip-all -o "$T_TMP/stripped" "$CAPTURE"
t_ok "the image's binary is the build's, stripped" cmp "$T_TMP/stripped" "$T_TMP/rootfs/afterimage-capture"
t_eq "passwd: root and nobody" "root:0 nobody:65534" "$(awk -F: '{print $1":"$3}' "$T_TMP/rootfs/etc/passwd" | paste -sd' ')"
t_eq "the JSON beside the archive names the layer" "$layer" "$(jq -r .layer_digest "$J")"

# ---- the release, twice, in different directories: byte-identical; verified by stock tools
"$CAPTURE" keygen -o "$T_TMP/rel" >/dev/null
chmod 600 "$T_TMP/rel.key"
R1=$T_TMP/r1 R2=$T_TMP/r2
t0=$SECONDS
t_ok "make release (key from a file)" make -s -C "$ROOT" --no-print-directory release RELEASE_KEY="$T_TMP/rel.key" RELEASE_DIR="$R1"
t_ok "scripts/release again (key from a descriptor), into another directory" \
	bash -c 'bash "$1/scripts/release" --out "$2" --key-fd 7 7<"$3"' _ "$ROOT" "$R2" "$T_TMP/rel.key"
t_diag "two releases: $((SECONDS - t0)) s"
t_case ship-repro "two releases of one commit, built in different directories"
names=$(cd "$R1" && ls | paste -sd' ')
t_eq "the release holds the source, binaries, image, SBOM, pod manifest, SHA256SUMS and a .minisig each" \
	"SHA256SUMS SHA256SUMS.minisig afterimage-$VERSION-pod.yaml afterimage-$VERSION-pod.yaml.minisig afterimage-$VERSION.cdx.json afterimage-$VERSION.cdx.json.minisig afterimage-$VERSION.tar.gz afterimage-$VERSION.tar.gz.minisig afterimage-analyze afterimage-analyze.minisig afterimage-capture afterimage-capture-$VERSION.oci.tar afterimage-capture-$VERSION.oci.tar.minisig afterimage-capture.minisig" \
	"$names"
same=0
for f in "$R1"/*; do
	if cmp -s "$f" "$R2/${f##*/}"; then
		same=$((same + 1))
	else
		t_diag "differs: ${f##*/}"
	fi
done
t_eq "every file of the two releases is byte-identical (binaries, image, SBOM, signatures)" \
	"$(ls "$R1" | wc -l)" "$same"
for b in afterimage-capture afterimage-analyze; do
	t_match "$b: static" 'statically linked' "$(file -b "$R1/$b")"
	t_match "$b: a content build id" 'Build ID: [0-9a-f]{40}' "$(readelf -n "$R1/$b")"
	# the release built in /var/tmp/ai-release.XXXXXX (or $TMPDIR): neither that, this checkout
	# nor any other absolute path of a build may be inside ("/tmp" and "/var/tmp" alone are
	# glibc's P_tmpdir)
	leaks=$(strings -a "$R1/$b" | grep -E "ai-release\.|$ROOT|/tmp/[^ ]|/build/|\.c:[0-9]" | head -n 3)
	t_empty "$b: no build path inside" "$leaks"
done
rel_digest=$(sed -n 's#^ *image: *[^ ]*/afterimage-capture@\(sha256:[0-9a-f]*\)$#\1#p' "$R1/afterimage-$VERSION-pod.yaml")
t_match "the release's pod manifest names the image by digest" '^sha256:[0-9a-f]{64}$' "$rel_digest"
t_eq "that digest is the release archive's" "$rel_digest" \
	"$(tar -xOf "$R1/$ARCHIVE" index.json | jq -r '.manifests[0].digest')"
t_case_end "identical: $same files" "image $rel_digest"

t_case ship-verify "a release is checked with stock sha256sum and minisign; tampering is refused"
out=$(bash "$ROOT/scripts/verify-release" "$R1" "$T_TMP/rel.pub" 2>&1)
t_match "verify-release: OK" 'verify-release: OK \(6 files and SHA256SUMS, each signed\)' "$out"
t_diag "$out"
t_ok "stock minisign verifies the SBOM's signature" minisign -Vm "$R1/afterimage-$VERSION.cdx.json" -p "$T_TMP/rel.pub" -q
t_ok "stock sha256sum -c" bash -c 'cd "$1" && sha256sum -c --strict --quiet SHA256SUMS' _ "$R1"
cp -a "$R2" "$T_TMP/bad1" && printf 'x' >>"$T_TMP/bad1/afterimage-capture"
t_fail "a byte appended to a binary: refused" bash "$ROOT/scripts/verify-release" "$T_TMP/bad1" "$T_TMP/rel.pub"
cp -a "$R2" "$T_TMP/bad2" && echo extra >"$T_TMP/bad2/extra.txt"
t_fail "an unlisted file: refused" bash "$ROOT/scripts/verify-release" "$T_TMP/bad2" "$T_TMP/rel.pub"
cp -a "$R2" "$T_TMP/bad3" && sed -i '1s/^/0/' "$T_TMP/bad3/SHA256SUMS"
t_fail "an edited SHA256SUMS: refused" bash "$ROOT/scripts/verify-release" "$T_TMP/bad3" "$T_TMP/rel.pub"
"$CAPTURE" keygen -o "$T_TMP/other" >/dev/null
t_fail "another key: refused" bash "$ROOT/scripts/verify-release" "$R2" "$T_TMP/other.pub"
chmod 644 "$T_TMP/rel.key"
t_fail "a release key others can read: refused" make -s -C "$ROOT" --no-print-directory release \
	RELEASE_KEY="$T_TMP/rel.key" RELEASE_DIR="$T_TMP/r3"
chmod 600 "$T_TMP/rel.key"
t_case_end "verified; 4 tamperings refused"

# ---- the SBOM: valid CycloneDX 1.5, every linked library, the layer digest, the commit
t_case ship-sbom "the SBOM validates against CycloneDX 1.5 and lists every library the link maps show"
V=$ROOT/tests/sbom/node_modules/@cyclonedx/cyclonedx-library
[[ -d $V ]] || t_bail "the SBOM validator is installed" "missing tests/sbom/node_modules: run scripts/install-deps"
S=$R1/afterimage-$VERSION.cdx.json
t_ok "the release's SBOM is valid CycloneDX 1.5 (schema validator)" node "$ROOT/tests/sbom/validate.js" "$S"
jq '.components[0].name = 7' "$S" >"$T_TMP/broken.json"
t_fail "the validator refuses a broken SBOM (a name that is a number)" node "$ROOT/tests/sbom/validate.js" "$T_TMP/broken.json"
t_ok "scripts/sbom on this build" python3 "$ROOT/scripts/sbom" "$BUILD" --out "$T_TMP/sbom.json"
t_ok "this build's SBOM is valid CycloneDX 1.5" node "$ROOT/tests/sbom/validate.js" "$T_TMP/sbom.json"
listed=$(jq -r '.components[] | .properties[]? | select(.name == "afterimage:path") | .value' "$T_TMP/sbom.json" | sort -u)
for b in afterimage-capture afterimage-analyze; do
	map=$BUILD/$b.map
	# the map's own words: archives that gave members, objects loaded outside archives
	inmap=$({
		sed -n '/^Archive member included/,/^Discarded input sections/p' "$map" | grep -oE '^/[^(]+\.a'
		grep -oE '^LOAD /[^ ]+\.o$' "$map" | cut -d' ' -f2
	} | xargs -r realpath | sort -u)
	n=$(wc -l <<<"$inmap")
	missing=$(comm -23 <(echo "$inmap") <(echo "$listed"))
	t_ok "$b: the link map shows $n libraries and objects" test "$n" -ge 8
	t_empty "$b: every one of them is in the SBOM" "$missing"
	for lib in libcrypto.a libc.a libarchive.a; do
		t_match "$b: $lib listed with its Debian package, version and licence" \
			'^[a-z0-9][a-z0-9.+-]* [0-9][^ ]* [A-Za-z].*$' \
			"$(jq -r --arg l "/$lib" '.components[] | select(any(.properties[]?; .name == "afterimage:path" and (.value | endswith($l)))) |
				"\(.properties[] | select(.name == "debian:package") | .value) \(.version) \(.licenses[0] | .license.id // .license.name // .expression)"' "$T_TMP/sbom.json")"
	done
	t_eq "$b: the SBOM's hash is the released binary's" "$(sha256sum "$R1/$b" | cut -d' ' -f1)" \
		"$(jq -r --arg b "$b" '.components[] | select(.name == $b and .type == "application") | .hashes[0].content' "$S")"
done
t_eq "the SBOM names the image's layer digest" "$(tar -xOf "$R1/$ARCHIVE" "blobs/sha256/${rel_digest#sha256:}" | jq -r '.layers[0].digest')" \
	"$(jq -r '.components[] | select(.type == "container") | .properties[] | select(.name == "oci:layer.digest") | .value' "$S")"
t_eq "the SBOM names the source commit" "$COMMIT" "$(jq -r '.metadata.component.properties[] | select(.name == "afterimage:commit") | .value' "$S")"
t_match "the SBOM names the compiler" '^gcc 12' "$(jq -r '.metadata.tools.components[] | select(.name == "gcc") | "\(.name) \(.version)"' "$S")"
t_case_end "valid; every linked library listed" "$(jq '.components | length' "$S") components"

# ---- the released image as the sidecar of a pod, run by the digest its manifest names
t_case ship-pod "the released image runs as a pod's sidecar and captures on a preStop-like trigger"
t_ok "podman load the release's oci-archive" podman load -q -i "$R1/$ARCHIVE"
SIDECAR=localhost/afterimage-capture@$rel_digest
t_cleanup "podman rmi -f $SIDECAR"
t_match "the image runs by digest" "^afterimage-capture $VERSION\$" "$(podman run --rm "$SIDECAR" version 2>&1)"
noshell=$(podman run --rm --entrypoint /bin/sh "$SIDECAR" -c true 2>&1)
t_match "there is no shell in it" 'stat /bin/sh: no such file or directory' "$noshell"

POD=ai-ship-$$ SC=ai-ship-sidecar-$$
KEYS=$T_TMP/keys OUT=$T_TMP/out
mkdir -p "$KEYS" "$OUT"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$KEYS/token"
chmod 600 "$KEYS/token" "$KEYS/k.key"
TOKEN=$(cat "$KEYS/token")
t_cleanup "podman pod rm -f -t 0 $POD"
t_ok "create the pod (shared pid, net, ipc, uts)" podman pod create --name "$POD" --share pid,net,ipc,uts
t_target "ai-ship-target-$$" --pod "$POD"
P=$T_TARGET_PID
STORAGE=$(podman info --format '{{.Store.GraphRoot}}')/overlay
t_cleanup "podman rm -f -t 0 $SC"
t_ok "start the sidecar from the released image (by digest)" podman run -d --pod "$POD" --name "$SC" \
	--cap-drop all --cap-add SYS_PTRACE,DAC_READ_SEARCH,FOWNER,KILL,SYS_ADMIN \
	--read-only --tmpfs /run/afterimage \
	-v "$KEYS:/keys:ro" -v "$OUT:/out" -v "$STORAGE:$STORAGE:ro" -v /sys/fs/cgroup:/host/cgroup:rw \
	"$SIDECAR" serve --key /keys/k.key --token-file /keys/token -o /out \
	--target auto --cgroup-root /host/cgroup --grace 20
pcurl() { nsenter -t "$P" -n curl -sS -m 30 "$@"; }
health=
for ((i = 0; i < 100; i++)); do
	health=$(pcurl http://127.0.0.1:9102/healthz 2>/dev/null) && [[ $health == *'"target":'[1-9]* ]] && break
	sleep 0.1
done
t_match "healthz answers with the discovered target" '"ok":true,"target":[1-9][0-9]*' "$health"
resp=$(pcurl -w '\n%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:9102/v1/capture?reason=preStop")
t_eq "preStop answered 200" 200 "${resp##*$'\n'}"
t_match "the answer names a complete sealed bundle" '"bundle":"/out/afterimage-[^"]+\.tar","sha256":"[0-9a-f]{64}","complete":true' "${resp%$'\n'*}"
B=$(ls "$OUT"/*.tar 2>/dev/null | head -n 1)
t_ok "the bundle verifies with stock minisign" minisign -Vm "$B" -p "$KEYS/k.pub" -q
t_ok "afterimage-analyze verify: complete" "$ANALYZE" verify "$B" --pub "$KEYS/k.pub" --quiet
t_match "manifest: trigger http, reason preStop" '"trigger":"http","reason":"preStop"' "$(tar -xOf "$B" manifest.json 2>/dev/null)"
t_match "processes.json holds the workload's httpd" '"comm":"httpd"' "$(tar -xOf "$B" processes.json 2>/dev/null)"
podman stop -t 20 "$SC" >/dev/null 2>&1
t_eq "the sidecar exited 0 on SIGTERM" 0 "$(podman inspect -f '{{.State.ExitCode}}' "$SC")"
t_case_end "captured on preStop from the released image" "$(stat -c %s "$R1/$ARCHIVE") byte archive"
