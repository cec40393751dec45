#!/usr/bin/env bash
# afterimage-analyze's command line: every subcommand answers --help and -h with its own usage on
# stdout (exit 0), and no byte a bundle, a checkpoint archive or an image controls reaches the
# terminal raw. Crafted inputs carry the name ESC ]0;PWNED BEL ESC [2J (which would set the
# terminal's title and clear the screen): a Podman checkpoint archive (the one in tests/data with
# that file added to its rootfs-diff.tar, and a copy whose rootfs-diff.tar is cut inside that file,
# so reading it fails naming it), a bundle whose processes, fds, sockets, mounts and upperdir
# entries carry it, a bundle with such a member (verify) and one with a `..` member of that name
# (extract). Every command's stdout and stderr must hold no raw ESC or BEL, and the name must show
# escaped (\x1b).
. "$(dirname "$0")/../lib.sh"
t_require_analyze
t_require_capture
A=$ANALYZE
DATA=$ROOT/tests/data/podman-checkpoint
if [[ ! -f $DATA/checkpoint.tar || ! -f $DATA/image-oci-archive.tar ]]; then
	t_bail "checkpoint archive" "no $DATA (committed under tests/data)"
fi
IMG=oci-archive:$DATA/image-oci-archive.tar
CMDS=(verify ps fds net mounts files layers findings iocs timeline report diff extract version)

# ---- --help and -h: every subcommand, its own usage on stdout, nothing on stderr, exit 0
for c in "${CMDS[@]}"; do
	for h in --help -h; do
		"$A" "$c" "$h" >"$T_TMP/h.out" 2>"$T_TMP/h.err"
		t_eq "$c $h: exit 0" 0 "$?"
		t_match "$c $h: its own usage on stdout" "^usage: afterimage-analyze $c( |$)" "$(head -1 "$T_TMP/h.out")"
		t_empty "$c $h: nothing on stderr" "$(cat "$T_TMP/h.err")"
	done
done
t_match "--help after the arguments too" "^usage: afterimage-analyze layers " "$("$A" layers x.tar --image y --help)"
t_match "help COMMAND" "^usage: afterimage-analyze timeline " "$("$A" help timeline)"
all=$("$A" --help)
t_eq "--help: exit 0" 0 "$?"
for c in "${CMDS[@]}"; do
	t_match "--help lists $c" "(^|"$'\n'")  $c( |"$'\n'")" "$all"$'\n'
done
"$A" ps >"$T_TMP/u.out" 2>"$T_TMP/u.err"
t_eq "a missing argument: exit 2" 2 "$?"
t_match "a missing argument: the command's usage on stderr" "expected one bundle.*usage: afterimage-analyze ps BUNDLE" "$(tr '\n' ' ' <"$T_TMP/u.err")"
t_empty "a missing argument: nothing on stdout" "$(cat "$T_TMP/u.out")"
"$A" diff a.tar >/dev/null 2>&1
t_eq "diff with one bundle: exit 2" 2 "$?"
"$A" ps a.tar --bogus >/dev/null 2>&1
t_eq "an unknown option: exit 2" 2 "$?"
"$A" frobnicate a.tar >/dev/null 2>&1
t_eq "an unknown command: exit 2" 2 "$?"

# ---- crafted inputs
zstd -dcq "$DATA/checkpoint.tar" >"$T_TMP/plain.tar" || t_bail "decompress the checkpoint archive"
python3 - "$T_TMP" <<'EOF' || t_bail "craft the hostile inputs"
import io, json, sys, tarfile
d = sys.argv[1]
E = "\x1b]0;PWNED\x07\x1b[2J"

def member(t, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data))

def inner(orig, cut):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        with tarfile.open(fileobj=io.BytesIO(orig)) as o:
            for m in o.getmembers():
                t.addfile(m, o.extractfile(m) if m.isfile() else None)
        ti = tarfile.TarInfo("data/" + E)
        ti.size, ti.mode, ti.mtime = 20000, 0o755, 1795530190
        t.addfile(ti, io.BytesIO(b"x" * 20000))
    v = b.getvalue()
    return v[: v.find(b"x" * 512) + 1000] if cut else v

for name, cut in (("ck-hostile.tar", False), ("ck-cut.tar", True)):
    with tarfile.open(d + "/plain.tar") as s, tarfile.open(d + "/" + name, "w", format=tarfile.PAX_FORMAT) as t:
        for m in s.getmembers():
            if m.name == "rootfs-diff.tar":
                v = inner(s.extractfile(m).read(), cut)
                m.size = len(v)
                t.addfile(m, io.BytesIO(v))
            else:
                t.addfile(m, s.extractfile(m) if m.isfile() else None)

docs = {
    "processes.json": {"processes": [
        {"pid": 1, "ppid": 0, "comm": "init", "cmdline": ["/init"], "exe": {"path": "/bin/sh"}},
        {"pid": 7, "ppid": 1, "comm": "c" + E, "cmdline": ["./x" + E],
         "exe": {"path": "/tmp/x" + E + " (deleted)", "deleted": True, "member": "exe/7"}}]},
    "fds.json": {"fds": [
        {"pid": 7, "fd": 3, "type": "deleted", "target": "/tmp/f" + E + " (deleted)", "deleted": True, "ino": 5, "size": 1},
        {"pid": 1, "fd": 4, "type": "file", "target": "/data/" + E}]},
    "sockets.json": {"sockets": [{"family": "unix", "proto": "unix", "type": "stream", "state": "LISTEN",
                                  "path": "/run/" + E, "inode": 9, "owners": [{"pid": 7, "fd": 5}]}]},
    "mounts.json": {"mounts": [{"mount_id": 1, "parent_id": 0, "mount_point": "/m" + E, "fstype": "overlay",
                                "source": "s" + E, "root": "/", "options": "rw," + E}]},
    "fs/upper.json": {"entries": [{"path": "/data/" + E, "type": "file", "mode": "4755", "size": 3,
                                   "sha256": "c" * 64, "mtime_ns": 1700000000000000000}]},
}
with tarfile.open(d + "/b-hostile.tar", "w", format=tarfile.PAX_FORMAT) as t:
    for name, body in docs.items():
        member(t, name, json.dumps(body).encode())
# verify: a member of that name, listed nowhere; SHA256SUMS lists manifest.json only
with tarfile.open(d + "/b-member.tar", "w", format=tarfile.PAX_FORMAT) as t:
    member(t, "manifest.json", b"{}")
    member(t, "SHA256SUMS", b"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a  manifest.json\n")
    member(t, "SHA256SUMS.minisig", b"x")
    member(t, "m" + E, b"x")
# extract: a '..' member of that name
with tarfile.open(d + "/b-dotdot.tar", "w", format=tarfile.PAX_FORMAT) as t:
    member(t, "manifest.json", b"{}")
    member(t, "../" + E, b"x")
EOF
t_ok "a key pair for verify" "$CAPTURE" keygen -o "$T_TMP/k"

ESCAPED='\\x1b\]0;PWNED\\x07\\x1b\[2J'
N=0
# hostile WANT_RC REGEX_OUT|- REGEX_ERR|- ARGS...: run afterimage-analyze ARGS; its exit code, no raw
# ESC or BEL on stdout nor stderr, the escaped name where a regex is given.
hostile() {
	local want=$1 rout=$2 rerr=$3 rc raw
	shift 3
	N=$((N + 1))
	local o=$T_TMP/run$N.out e=$T_TMP/run$N.err d="${*//$T_TMP\//}"
	d=${d//$IMG/IMG}
	d=${d//$DATA\//}
	timeout 120 "$A" "$@" >"$o" 2>"$e"
	rc=$?
	t_eq "$d: exit $want" "$want" "$rc"
	raw=$(tr -dc '\033\007' <"$o" | wc -c)
	t_eq "$d: no raw ESC or BEL on stdout" 0 "$raw"
	raw=$(tr -dc '\033\007' <"$e" | wc -c)
	t_eq "$d: no raw ESC or BEL on stderr" 0 "$raw"
	[[ $rout == - ]] || t_match "$d: the name escaped on stdout" "$rout" "$(cat "$o")"
	[[ $rerr == - ]] || t_match "$d: the name escaped on stderr" "$rerr" "$(cat "$e")"
}

# the checkpoint archive that reads, with the name in rootfs-diff.tar
CK=$T_TMP/ck-hostile.tar
hostile 0 "/data/$ESCAPED" - files "$CK"
hostile 0 "added +- +/data/$ESCAPED" - layers "$CK" --image "$IMG"
hostile 0 "added +- +/data/$ESCAPED" - layers "$CK" --image "$IMG" --changed --stats
hostile 0 "/data/$ESCAPED" - findings "$CK" --image "$IMG"
hostile 0 "/data/$ESCAPED" - timeline "$CK" --image "$IMG" --format bodyfile
hostile 0 "/data/$ESCAPED" - timeline "$CK" --format csv
hostile 0 - - timeline "$CK" --format jsonl
hostile 0 "/data/$ESCAPED" - diff "$CK" "$DATA/checkpoint.tar"
for c in ps fds net mounts; do hostile 0 - - "$c" "$CK"; done
for c in files layers findings; do hostile 0 - - "$c" "$CK" --json --image "$IMG"; done
hostile 0 - - diff "$CK" "$DATA/checkpoint.tar" --json
hostile 0 - - report "$CK" --image "$IMG" -o "$T_TMP/r.html"
hostile 5 - "NOT SIGNED" verify "$CK" --pub "$T_TMP/k.pub"

# the checkpoint archive cut inside that file: reading it fails, and the error names it escaped
CUT=$T_TMP/ck-cut.tar
for c in ps fds net mounts files; do hostile 3 - "rootfs-diff.tar: /data/$ESCAPED" "$c" "$CUT"; done
hostile 3 - "rootfs-diff.tar: /data/$ESCAPED" layers "$CUT" --image "$IMG"
hostile 3 - "rootfs-diff.tar: /data/$ESCAPED" findings "$CUT" --json
hostile 3 - "rootfs-diff.tar: /data/$ESCAPED" timeline "$CUT" --format bodyfile
hostile 3 - "rootfs-diff.tar: /data/$ESCAPED" report "$CUT" -o "$T_TMP/r2.html"
hostile 3 - "rootfs-diff.tar: /data/$ESCAPED" diff "$DATA/checkpoint.tar" "$CUT"

# a bundle whose documents carry the name: every table escapes it
B=$T_TMP/b-hostile.tar
hostile 0 "\\\\_ \\./x$ESCAPED" - ps "$B"
hostile 0 "/tmp/f$ESCAPED \(deleted\)" - fds "$B"
hostile 0 "/run/$ESCAPED" - net "$B"
hostile 0 "s$ESCAPED" - mounts "$B"
hostile 0 "/data/$ESCAPED" - files "$B"
hostile 0 "c$ESCAPED" - findings "$B"
hostile 0 "/data/$ESCAPED" - timeline "$B" --format bodyfile
hostile 0 "/data/$ESCAPED" - diff "$B" "$CK"
hostile 0 - - report "$B" -o "$T_TMP/r3.html"
for c in ps fds net mounts files findings; do hostile 0 - - "$c" "$B" --json; done

# verify names the unlisted member escaped; extract refuses the '..' member, naming it escaped
hostile 1 - "FAIL member m$ESCAPED: in the archive but not in SHA256SUMS" verify "$T_TMP/b-member.tar" --pub "$T_TMP/k.pub"
hostile 3 - "member \.\./$ESCAPED: refused" extract "$T_TMP/b-dotdot.tar" -o "$T_TMP/x"

# a validly signed archive whose outer signature's trusted comment carries the name: verify says
# the signature is valid and prints the comment escaped (signed text is still the bundle's text)
python3 - "$T_TMP/b-member.tar" "$T_TMP/k.key" "$T_TMP/k.pub" "$(printf '\033]0;PWNED\007\033[2J')" <<'PY'
import base64, hashlib, subprocess, sys, tempfile
bundle, key, pub, name = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
keyid = base64.b64decode(open(pub).read().splitlines()[1])[2:10]
def sign(data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data); f.flush()
        return subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", f.name],
                              check=True, capture_output=True).stdout
sig = sign(hashlib.blake2b(open(bundle, "rb").read(), digest_size=64).digest())
tc = ("afterimage bundle=x.tar " + name).encode()
glob = sign(sig + tc)
with open(bundle + ".minisig", "wb") as f:
    f.write(b"untrusted comment: forged comment\n" + base64.b64encode(b"ED" + keyid + sig) + b"\n")
    f.write(b"trusted comment: " + tc + b"\n" + base64.b64encode(glob) + b"\n")
PY
t_ok "minisign itself accepts the re-signed archive" minisign -Vm "$T_TMP/b-member.tar" -p "$T_TMP/k.pub" -q
hostile 1 - "outer signature .*: valid, key id [0-9A-F]{16}, trusted comment: afterimage bundle=x.tar $ESCAPED" \
	verify "$T_TMP/b-member.tar" --pub "$T_TMP/k.pub"
