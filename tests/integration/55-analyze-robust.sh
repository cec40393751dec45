#!/usr/bin/env bash
# afterimage-analyze against inputs past its limits, each of which once crashed it, hung it or cost
# it far too much memory: images of 251 and 300 layers (oci:, oci-archive:, docker-archive:) with a
# real bundle (a clear error naming the limit, exit 3; 250 layers still attribute); a signed
# bundle of 200,000 members whose SHA256SUMS (over 4 MiB) and manifest are streamed by verify (in
# archive order and reordered); a SHA256SUMS.minisig over its limit (never called "missing"); a
# renamed bundle (a warning naming the signed name); extract stopping at an absolute or '..'
# symlink and leaving nothing; report -o onto a FIFO or an existing file (refused at once); a
# 250 MB string in processes.json (cut at load, cut again in the views, memory well under 2x).
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_require_analyze
t_case I-03 'issue cases 3, 4 and 9: images of 251 and 300 layers (three transports), a signed bundle of 200,000 members, extract errors and absolute symlinks, a renamed bundle, report -o FIFO, a 250 MB string'
A=$ANALYZE
SAN=0
[[ $(ldd "$A" 2>/dev/null) == *libasan* ]] && SAN=1
GTIME=/usr/bin/time
[[ -x $GTIME ]] || GTIME=

# ---- a real bundle of the workload container
NAME=ai-robust-$$
t_target "$NAME"
K=$T_TMP/key
t_ok "keygen" "$CAPTURE" keygen -o "$K"
mkdir -p "$T_TMP/out"
t_ok "capture a bundle" "$CAPTURE" snapshot --pid "$T_TARGET_PID" --key "$K.key" -o "$T_TMP/out" --name b1
B=$T_TMP/out/b1.tar

# ---- images of 250, 251 and 300 tiny layers, in the three transports
python3 - "$T_TMP" <<'EOF' || t_bail "write the images"
import hashlib, io, json, os, sys, tarfile
d = sys.argv[1]

def tar_bytes(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1700000000
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()

def sha(b):
    return hashlib.sha256(b).hexdigest()

for n in (250, 251, 300):
    layers = [tar_bytes([("layer%d/f.txt" % i, b"layer %d\n" % i)]) for i in range(n)]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(l) for l in layers]},
                         "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "layer %d" % i}
                                     for i in range(n)]}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": "sha256:" + sha(l), "size": len(l)} for l in layers]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manifest),
         "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}).encode()
    files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
    files += [("blobs/sha256/" + sha(b), b) for b in [manifest, config] + layers]
    top = "%s/oci%d" % (d, n)
    for name, data in files:
        os.makedirs(os.path.dirname(os.path.join(top, name)), exist_ok=True)
        with open(os.path.join(top, name), "wb") as f:
            f.write(data)
    with open("%s/oci%d.tar" % (d, n), "wb") as f:
        f.write(tar_bytes(files))
    dm = json.dumps([{"Config": sha(config) + ".json", "RepoTags": ["robust:%d" % n],
                      "Layers": ["%s/layer.tar" % sha(l) for l in layers]}]).encode()
    dfiles = [("manifest.json", dm), (sha(config) + ".json", config)]
    dfiles += [("%s/layer.tar" % sha(l), l) for l in layers]
    with open("%s/docker%d.tar" % (d, n), "wb") as f:
        f.write(tar_bytes(dfiles))
EOF

for ref in "oci:$T_TMP/oci250" "oci-archive:$T_TMP/oci250.tar" "docker-archive:$T_TMP/docker250.tar"; do
	r=${ref%%:*}
	"$A" layers "$B" --image "$ref" --json >"$T_TMP/l.json" 2>"$T_TMP/l.err"
	t_eq "$r, 250 layers (the limit): layers exit 0" 0 "$?"
	t_eq "$r, 250 layers: every layer attributed" 250 "$(jq '.image.layers | length' "$T_TMP/l.json")"
	t_eq "$r, 250 layers: the top layer's file is in it" image \
		"$(jq -r '.paths[] | select(.path == "/layer249/f.txt") | .status' "$T_TMP/l.json")"
done
for n in 251 300; do
	for ref in "oci:$T_TMP/oci$n" "oci-archive:$T_TMP/oci$n.tar" "docker-archive:$T_TMP/docker$n.tar"; do
		r=${ref%%:*}
		for c in layers report findings timeline; do
			args=("$c" "$B" --image "$ref")
			[[ $c == report ]] && args+=(-o "$T_TMP/r-$n-$r.html")
			[[ $c == timeline ]] && args+=(--format jsonl)
			"$A" "${args[@]}" >"$T_TMP/c.out" 2>"$T_TMP/c.err"
			t_eq "$r, $n layers: $c exits 3 (not a crash)" 3 "$?"
			t_match "$r, $n layers: $c names the limit" "$n layers, more than the limit of 250 layers" \
				"$(cat "$T_TMP/c.err")"
		done
		t_fail "$r, $n layers: no report written" test -e "$T_TMP/r-$n-$r.html"
	done
done

# ---- verify: a renamed bundle is intact, and says what the signature names
t_ok "verify the bundle under its own name" "$A" verify "$B" --pub "$K.pub"
t_empty "under its own name: no rename warning" "$("$A" verify "$B" --pub "$K.pub" 2>&1 | grep renamed)"
cp "$B" "$T_TMP/evidence-17.tar"
cp "$B.minisig" "$T_TMP/evidence-17.tar.minisig"
"$A" verify "$T_TMP/evidence-17.tar" --pub "$K.pub" >"$T_TMP/v.out" 2>"$T_TMP/v.err"
t_eq "a renamed bundle still verifies: exit 0" 0 "$?"
t_match "a renamed bundle: a warning names the signed name" \
	"^warning: renamed: the signature names b1\.tar, this file is evidence-17\.tar" "$(grep renamed "$T_TMP/v.out")"
t_match "a renamed bundle: verified" "^verified: .*evidence-17.tar" "$(tail -1 "$T_TMP/v.out")"

# ---- verify: 200,000 members, SHA256SUMS over 4 MiB, signed the way capture signs
NM=200000
python3 - "$T_TMP" "$K.key" "$K.pub" "$NM" <<'EOF' || t_bail "write the 200k-member bundles"
import base64, hashlib, io, json, subprocess, sys, tarfile, tempfile
d, key, pub, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
keyid = base64.b64decode(open(pub).read().splitlines()[1])[2:10]

def sign(data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", f.name],
                              check=True, capture_output=True).stdout

def minisig(data, tc):
    sig = sign(hashlib.blake2b(data, digest_size=64).digest())
    return (b"untrusted comment: signature\n" + base64.b64encode(b"ED" + keyid + sig) + b"\n" +
            b"trusted comment: " + tc + b"\n" + base64.b64encode(sign(sig + tc)) + b"\n")

def member(t, name, data):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime = len(data), 1700000000
    t.addfile(ti, io.BytesIO(data))

names = ["fs/upper/data/dir%03d/evidence-file-%06d.txt" % (i % 1000, i) for i in range(n)]
body = [b"%d\n" % i for i in range(n)]
hashes = [hashlib.sha256(b).hexdigest() for b in body]
man = {"format": "afterimage-bundle", "format_version": 1, "name": "many", "complete": True,
       "members": [{"path": p, "size": len(b), "sha256": h} for p, b, h in zip(names, body, hashes)]}
mj = json.dumps(man).encode()
sums = "".join("%s  %s\n" % (h, p) for p, h in zip(names, hashes))
sums += "%s  manifest.json\n" % hashlib.sha256(mj).hexdigest()
sums = sums.encode()
for out, reordered in (("many.tar", False), ("many-reordered.tar", True)):
    tc = ("afterimage bundle=%s id=x captured=2024-01-01T00:00:00Z complete=true" % out).encode()
    with tarfile.open(d + "/" + out, "w", format=tarfile.PAX_FORMAT) as t:
        tail = [("manifest.json", mj), ("SHA256SUMS", sums),
                ("SHA256SUMS.minisig", minisig(sums, tc))]
        if reordered:  # the documents first: every line names a member not seen yet
            for name, data in reversed(tail):
                member(t, name, data)
        for p, b in zip(names, body):
            member(t, p, b)
        if not reordered:
            for name, data in tail:
                member(t, name, data)
    with open(d + "/" + out, "rb") as f:
        whole = f.read()
    with open(d + "/" + out + ".minisig", "wb") as f:
        f.write(minisig(whole, tc))
print(len(sums))
EOF
t_ok "minisign itself accepts the 200k-member bundle" minisign -Vm "$T_TMP/many.tar" -p "$K.pub" -q
sums_size=$(tar -xOf "$T_TMP/many.tar" SHA256SUMS | wc -c)
t_ok "its SHA256SUMS is larger than 4 MiB ($sums_size bytes)" test "$sums_size" -gt $((4 << 20))
for b in many many-reordered; do
	if [[ -n $GTIME ]]; then
		"$GTIME" -f '%e %M' -o "$T_TMP/$b.time" "$A" verify "$T_TMP/$b.tar" --pub "$K.pub" >"$T_TMP/$b.out" 2>"$T_TMP/$b.err"
		rc=$?
	else
		"$A" verify "$T_TMP/$b.tar" --pub "$K.pub" >"$T_TMP/$b.out" 2>"$T_TMP/$b.err"
		rc=$?
	fi
	t_eq "$b: verify of $NM members: exit 0" 0 "$rc"
	t_match "$b: every SHA256SUMS line matches" "ok +SHA256SUMS: $((NM + 1)) members, every hash matches" "$(cat "$T_TMP/$b.out")"
	t_match "$b: every manifest member matches" "ok +manifest.json: $NM members match, complete=true" "$(cat "$T_TMP/$b.out")"
	t_empty "$b: no FAIL, no 'missing'" "$(grep -E 'FAIL|missing' "$T_TMP/$b.out" "$T_TMP/$b.err")"
	if [[ -n $GTIME ]]; then
		read -r secs kib <"$T_TMP/$b.time"
		t_diag "$b: verify of $NM members: ${secs}s, peak RSS ${kib} KiB"
		if ((SAN)); then
			t_skip "$b: peak RSS under 160 MiB" "sanitizer build"
		else
			t_ok "$b: peak RSS under 160 MiB (${kib} KiB)" test "$kib" -lt $((160 * 1024))
		fi
	else
		t_skip "$b: peak RSS" "no GNU time"
	fi
done
# one byte of one member changed (and the outer signature left as it was): named, and only it
python3 - "$T_TMP/many.tar" "$T_TMP/many-bad.tar" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.find(b"123456\n\0")
while i % 512:  # the member's data block (names hold the number too)
    i = b.find(b"123456\n\0", i + 1)
b[i + 5] = ord("x")
open(sys.argv[2], "wb").write(b)
EOF
cp "$T_TMP/many.tar.minisig" "$T_TMP/many-bad.tar.minisig"
"$A" verify "$T_TMP/many-bad.tar" --pub "$K.pub" >/dev/null 2>"$T_TMP/bad.err"
t_eq "one changed member among $NM: exit 1" 1 "$?"
t_match "the changed member is named against SHA256SUMS" "FAIL member fs/upper/data/dir456/evidence-file-123456.txt: sha256 [0-9a-f]{64} does not match SHA256SUMS" "$(cat "$T_TMP/bad.err")"
t_match "and against the manifest" "FAIL member fs/upper/data/dir456/evidence-file-123456.txt: size/sha256 differ from manifest.json" "$(cat "$T_TMP/bad.err")"
t_eq "nothing else is named" 3 "$(grep -c '^FAIL' "$T_TMP/bad.err")"
rm -f "$T_TMP"/many*.tar

# ---- verify: members over a limit are said to be over it, never "missing"
python3 - "$T_TMP/big-sig.tar" <<'EOF'
import hashlib, io, sys, tarfile
def member(t, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    m = b'{"format":"afterimage-bundle","format_version":1,"complete":true,"members":[]}'
    member(t, "manifest.json", m)
    member(t, "SHA256SUMS", b"%s  manifest.json\n" % hashlib.sha256(m).hexdigest().encode())
    member(t, "SHA256SUMS.minisig", b"x" * (5 << 20))
EOF
"$A" verify "$T_TMP/big-sig.tar" --pub "$K.pub" >/dev/null 2>"$T_TMP/bs.err"
t_eq "a 5 MiB SHA256SUMS.minisig: exit 1" 1 "$?"
t_match "it is named as over the limit" "FAIL member SHA256SUMS.minisig: not checked \(larger than the limit of 4194304 bytes\)" "$(cat "$T_TMP/bs.err")"
t_empty "it is never called missing" "$(grep -i missing "$T_TMP/bs.err")"

# ---- extract: a symlink out of the tree stops it, and an error leaves nothing behind
python3 - "$T_TMP" <<'EOF'
import io, sys, tarfile
d = sys.argv[1]
def mk(name, members):
    with tarfile.open(d + "/" + name, "w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in members:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
def f(n, data):
    ti = tarfile.TarInfo(n)
    ti.size = len(data)
    return ti, data
def dr(n):
    ti = tarfile.TarInfo(n)
    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    return ti, None
def ln(n, target):
    ti = tarfile.TarInfo(n)
    ti.type, ti.linkname = tarfile.SYMTYPE, target
    return ti, None
def fifo(n):
    ti = tarfile.TarInfo(n)
    ti.type = tarfile.FIFOTYPE
    return ti, None
deep = "/".join(["d"] * 1500)  # deeper than one fd per level would allow
head = [f("manifest.json", b"{}"), f("fs/upper/a.txt", b"a"), f(deep + "/leaf.txt", b"leaf")]
mk("x-abs.tar", head + [ln("fs/upper/evil", "/etc/shadow"), f("z.txt", b"z")])
mk("x-dotdot.tar", head + [ln("fs/upper/escape", "../../../../../../etc")])
mk("x-fifo.tar", head + [fifo("fs/upper/p")])
mk("x-ok.tar", [f("manifest.json", b"{}"), f("fs/upper/a.txt", b"a"), ln("fs/upper/rel", "a.txt"),
                f(deep + "/leaf.txt", b"leaf")])
EOF
for x in abs dotdot fifo; do
	"$A" extract "$T_TMP/x-$x.tar" -o "$T_TMP/xo-$x" >"$T_TMP/x.out" 2>&1
	t_eq "extract x-$x.tar: exit 3" 3 "$?"
	t_fail "extract x-$x.tar: the new directory is gone" test -e "$T_TMP/xo-$x"
done
t_match "an absolute symlink target is refused, named" "member fs/upper/evil: refused \(a symlink to /etc/shadow" \
	"$("$A" extract "$T_TMP/x-abs.tar" -o "$T_TMP/xo-abs" 2>&1)"
t_match "a '..' symlink target is refused, named" "member fs/upper/escape: refused \(a symlink to \.\./" \
	"$("$A" extract "$T_TMP/x-dotdot.tar" -o "$T_TMP/xo-dotdot" 2>&1)"
mkdir "$T_TMP/xo-empty"
t_fail "into an existing empty dir: refused" "$A" extract "$T_TMP/x-abs.tar" -o "$T_TMP/xo-empty"
t_empty "the existing dir is left empty (no partial tree)" "$(ls -A "$T_TMP/xo-empty")"
t_ok "a tree with an inner symlink and 1500 levels extracts" "$A" extract "$T_TMP/x-ok.tar" -o "$T_TMP/xo-ok"
t_eq "the deep leaf is there" leaf "$(cd "$T_TMP/xo-ok" && cat "$(printf 'd/%.0s' $(seq 1500))leaf.txt")"
t_eq "the inner symlink is kept" a.txt "$(readlink "$T_TMP/xo-ok/fs/upper/rel")"
t_empty "no staging directory is left" "$(ls -A "$T_TMP/xo-ok" | grep '^\.partial-')"

# ---- report -o: only a new regular file, refused at once otherwise
mkfifo "$T_TMP/fifo.html"
timeout 20 "$A" report "$B" -o "$T_TMP/fifo.html" >"$T_TMP/f.out" 2>&1
t_eq "report -o FIFO: refused without blocking, exit 3" 3 "$?"
t_match "report -o FIFO: says why" "fifo.html: exists \(the report is written only to a new file\)" "$(cat "$T_TMP/f.out")"
echo keep >"$T_TMP/old.html"
"$A" report "$B" -o "$T_TMP/old.html" >/dev/null 2>&1
t_eq "report -o an existing file: exit 3" 3 "$?"
t_eq "the existing file is untouched" keep "$(cat "$T_TMP/old.html")"
ln -s "$T_TMP/target.html" "$T_TMP/link.html"
"$A" report "$B" -o "$T_TMP/link.html" >/dev/null 2>&1
t_eq "report -o a dangling symlink: exit 3" 3 "$?"
t_fail "nothing written through the symlink" test -e "$T_TMP/target.html"
t_ok "report -o a new file" "$A" report "$B" -o "$T_TMP/new.html" --quiet
mkfifo "$T_TMP/fifo.pub"
timeout 20 "$A" verify "$B" --pub "$T_TMP/fifo.pub" >"$T_TMP/f.out" 2>&1
t_eq "verify --pub FIFO: refused without blocking, exit 3" 3 "$?"
t_match "verify --pub FIFO: says why" "fifo.pub: not a regular file" "$(cat "$T_TMP/f.out")"

# ---- a 250 MB string in processes.json (25 MB under the sanitizers): cut at load (1 MiB), cut in
# the views (4 KiB), memory well under twice the member
BIG=250000000
((SAN)) && BIG=25000000
python3 - "$T_TMP/big.tar" "$BIG" <<'EOF'
import io, sys, tarfile
n = int(sys.argv[2])
big = "A" * n
doc = ('{"processes":[{"pid":1,"ppid":0,"comm":"init","cmdline":["/init","%s"],"exe":{"path":"/bin/sh"}},'
       '{"pid":2,"ppid":1,"comm":"c%s","cmdline":[],"exe":{"path":"/bin/x"}}]}') % (big, "é" * 3000)
data = doc.encode()
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo("processes.json")
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))
EOF
size=$(stat -c %s "$T_TMP/big.tar")
run_big() { # OUT ERR ARGS...: afterimage-analyze ARGS, peak RSS in KiB into $T_TMP/rss
	local o=$1 e=$2
	shift 2
	if [[ -n $GTIME ]]; then
		"$GTIME" -f '%M' -o "$T_TMP/rss" "$A" "$@" >"$o" 2>"$e"
	else
		echo 0 >"$T_TMP/rss"
		"$A" "$@" >"$o" 2>"$e"
	fi
}
run_big "$T_TMP/ps.txt" "$T_TMP/ps.err" ps "$T_TMP/big.tar"
t_eq "ps over a $BIG-byte argument: exit 0" 0 "$?"
t_match "ps: a warning says a string was cut at load" "warning: .*big.tar: 1 string longer than 1048576 bytes cut at load \($BIG bytes in all\)" "$(cat "$T_TMP/ps.err")"
t_match "ps: the argument is cut in the table, with its length" "/init A{4096}…\[cut, $BIG bytes\]" "$(head -2 "$T_TMP/ps.txt" | tail -1)"
t_ok "ps: the table stays small" test "$(stat -c %s "$T_TMP/ps.txt")" -lt 20000
t_match "ps: a long multi-byte comm is cut on a character boundary" "c(é){2047}…\[cut, 6001 bytes\]" "$(cat "$T_TMP/ps.txt")"
rss=$(cat "$T_TMP/rss")
t_diag "ps: peak RSS ${rss} KiB for a ${size}-byte bundle"
if ((SAN)) || [[ -z $GTIME ]]; then
	t_skip "ps: peak RSS under 1.5x the member" "sanitizer build or no GNU time"
else
	t_ok "ps: peak RSS under 1.5x the member (${rss} KiB)" test "$rss" -lt $((size * 3 / 2 / 1024))
fi
run_big "$T_TMP/ps.json" "$T_TMP/psj.err" ps "$T_TMP/big.tar" --json
t_eq "ps --json: exit 0" 0 "$?"
t_eq "ps --json: the string keeps its first MiB and the marker" "1048576 …[cut, $BIG bytes]" \
	"$(jq -r '.processes[] | select(.pid == 1) | .cmdline[1] | "\(.[0:1048576] | length) \(.[1048576:])"' "$T_TMP/ps.json")"
run_big "$T_TMP/r.out" "$T_TMP/r.err" report "$T_TMP/big.tar" -o "$T_TMP/big.html"
t_eq "report: exit 0" 0 "$?"
t_ok "report: the HTML stays small ($(stat -c %s "$T_TMP/big.html") bytes)" test "$(stat -c %s "$T_TMP/big.html")" -lt 200000
t_match "report: the cut is said in the HTML" "…\[cut, $BIG bytes\]" "$(cat "$T_TMP/big.html")"
rss=$(cat "$T_TMP/rss")
t_diag "report: peak RSS ${rss} KiB"
if ((SAN)) || [[ -z $GTIME ]]; then
	t_skip "report: peak RSS under 1.5x the member" "sanitizer build or no GNU time"
else
	t_ok "report: peak RSS under 1.5x the member (${rss} KiB)" test "$rss" -lt $((size * 3 / 2 / 1024))
fi
rm -f "$T_TMP/big.tar" "$T_TMP/ps.json" "$T_TMP/big.html"
t_case_end 'a clear error instead of a crash; verify streams SHA256SUMS and the manifest with bounded memory; extract leaves nothing on error; the rename is said; a FIFO refused at once; strings cut at load and in views, the cut said' "whole test: ${SECONDS} s"
