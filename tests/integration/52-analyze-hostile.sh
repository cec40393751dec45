#!/usr/bin/env bash
# afterimage-analyze against hostile bundles of a million processes / members: the process tree
# (ps, findings, report), the per-process open files and verify's hardlink and member lookups must
# stay O(n log n). Each command is bounded by `timeout 60` and must not hit it (a quadratic pass
# over 1M entries takes hours); the results must still be right. Sanitizer builds use 200k.
. "$(dirname "$0")/../lib.sh"
t_require_analyze
t_require_capture
A=$ANALYZE
N=1000000
[[ $(ldd "$A" 2>/dev/null) == *libasan* ]] && N=200000
t_diag "N=$N"

# ---- a bundle of N processes (+ a ppid cycle, a repeated pid, a chain deeper than 64) and N fds
python3 - "$T_TMP/procs.tar" "$N" <<'EOF'
import io, random, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
procs = []
for pid in range(1, n + 1):
    if pid == 1:
        ppid = 0
    elif pid <= 100:
        ppid = pid - 1  # a chain 100 deep: the tree caps the depth at 64
    else:
        ppid = rnd.randint(1, pid - 1)
    procs.append('{"pid":%d,"ppid":%d,"comm":"p%d","exe":{"path":"/bin/p%d"}}' % (pid, ppid, pid, pid % 1000))
procs.append('{"pid":%d,"ppid":%d,"comm":"cycle-a"}' % (n + 1, n + 2))
procs.append('{"pid":%d,"ppid":%d,"comm":"cycle-b"}' % (n + 2, n + 1))
procs.append('{"pid":5,"ppid":4,"comm":"dup-5"}')
fds = ['{"pid":%d,"fd":%d,"type":"file","target":"/tmp/f%d"}' % (rnd.randint(1, n), i, i % 1000) for i in range(n)]
fds.append('{"pid":5,"fd":99,"type":"deleted","target":"/tmp/gone (deleted)","deleted":true}')
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    for name, body in (("processes.json", '{"processes":[' + ",".join(procs) + "]}"),
                       ("fds.json", '{"fds":[' + ",".join(fds) + "]}")):
        data = body.encode()
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
EOF
t_ok "generated a bundle of $N processes" test -s "$T_TMP/procs.tar"
NP=$((N + 3))

timeout 60 "$A" ps "$T_TMP/procs.tar" --json >"$T_TMP/ps.json" 2>"$T_TMP/ps.err"; rc=$?
t_eq "ps --json over $NP processes finishes within 60 s, exit 0" 0 "$rc"
t_ok "ps --json: every process once, depth capped at 64, the cycle and the repeated pid listed" python3 - "$T_TMP/ps.json" "$NP" <<'EOF'
import json, sys
ps = json.load(open(sys.argv[1]))["processes"]
n = int(sys.argv[2])
assert len(ps) == n, len(ps)
assert len({id(p) for p in ps}) == n
assert sorted(p["pid"] for p in ps).count(5) == 2
depth = {p["pid"]: p["depth"] for p in ps if p["pid"] != 5}
assert ps[0]["pid"] == 1 and ps[0]["depth"] == 0, ps[0]
assert depth[65] == 64 and depth[66] == 0, (depth[65], depth[66])  # deeper than 64: listed as its own root
assert max(p["depth"] for p in ps) <= 64
cyc = {p["comm"]: p["depth"] for p in ps if p["comm"].startswith("cycle-")}
assert cyc == {"cycle-a": 0, "cycle-b": 1}, cyc  # a ppid cycle: listed from its first member
# tree order: every process with depth d > 0 follows its parent (or a sibling subtree at depth >= d)
last = {}
for p in ps:
    if p["depth"] and p["comm"] != "dup-5":
        assert last.get(p["depth"] - 1) == p["ppid"], p
    last[p["depth"]] = p["pid"]
EOF
timeout 60 "$A" ps "$T_TMP/procs.tar" >"$T_TMP/ps.txt" 2>&1; rc=$?
t_eq "ps table finishes within 60 s, exit 0" 0 "$rc"
t_eq "ps table: a header and one line per process" "$((NP + 1))" "$(wc -l <"$T_TMP/ps.txt")"

timeout 60 "$A" findings "$T_TMP/procs.tar" --json >"$T_TMP/f.json" 2>"$T_TMP/f.err"; rc=$?
t_eq "findings --json over $NP processes and $N fds finishes within 60 s, exit 0" 0 "$rc"
t_ok "findings --json: every open file listed under its process once" python3 - "$T_TMP/f.json" "$N" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
assert sum(len(p["files"]) for p in f["processes"]) == n + 1
kinds = [x["kind"] for x in f["findings"]]
assert kinds.count("deleted-open-file") == 1, kinds[:5]
p5 = [p for p in f["processes"] if p["pid"] == 5]
assert len(p5) == 2 and sum(len(p["files"]) for p in p5) == len([p for p in p5 if p["files"]][0]["files"])
EOF
timeout 60 "$A" report "$T_TMP/procs.tar" -o "$T_TMP/report.html" --quiet 2>"$T_TMP/r.err"; rc=$?
t_eq "report over $NP processes finishes within 60 s, exit 0" 0 "$rc"
rm -f "$T_TMP/ps.json" "$T_TMP/ps.txt" "$T_TMP/f.json" "$T_TMP/report.html" "$T_TMP/procs.tar"

# ---- a tar of N members: half empty regular files, half hardlinks to earlier ones, one repeated
# name, and a SHA256SUMS (with a bogus signature) listing only the first 3: every other member,
# hardlinks included (they carry their target's hash), must be named as unlisted.
python3 - "$T_TMP/members.tar" "$N" <<'EOF'
import hashlib, random, sys
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(9)

def header(name, typeflag=b"0", link=b"", size=0):
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157:157 + len(link)] = link
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)

empty = hashlib.sha256(b"").hexdigest()
regular = n // 2
sums = "".join("%s  m/%d\n" % (empty, i) for i in range(3)).encode()
with open(out, "wb") as f:
    f.write(header(b"SHA256SUMS", size=len(sums)))
    f.write(sums + b"\0" * (-len(sums) % 512))
    sig = b"untrusted comment: not a signature\n"
    f.write(header(b"SHA256SUMS.minisig", size=len(sig)))
    f.write(sig + b"\0" * (-len(sig) % 512))
    for i in range(regular):
        f.write(header(b"m/%d" % i))
    for i in range(regular, n):
        f.write(header(b"m/%d" % i, b"1", b"m/%d" % rnd.randrange(regular)))
    f.write(header(b"m/7"))  # a repeated name
    f.write(b"\0" * 1024)
EOF
t_ok "generated a tar of $N members" test -s "$T_TMP/members.tar"
"$CAPTURE" keygen -o "$T_TMP/k" >/dev/null 2>&1
timeout 60 "$A" verify "$T_TMP/members.tar" --pub "$T_TMP/k.pub" >"$T_TMP/v.out" 2>"$T_TMP/v.err"; rc=$?
t_eq "verify over $((N + 3)) members finishes within 60 s, exit 1 (not a signed bundle)" 1 "$rc"
t_match "verify: the archive was read whole" "ok +archive: $((N + 3)) members" "$(head -1 "$T_TMP/v.err")"
t_match "verify: the repeated name is named" "FAIL member m/7: appears more than once" "$(grep -m1 'm/7: appears' "$T_TMP/v.err")"
t_match "verify: the bogus SHA256SUMS.minisig named" "FAIL signature SHA256SUMS.minisig: " "$(cat "$T_TMP/v.err")"
t_eq "verify: every unlisted member named, hardlinks resolved to their target's hash" "$((N - 2))" \
	"$(grep -c '^FAIL member m/[0-9]*: in the archive but not in SHA256SUMS$' "$T_TMP/v.err")"
t_match "verify: manifest missing" "FAIL member manifest.json: missing" "$(cat "$T_TMP/v.err")"
t_match "verify: a clear summary" "VERIFICATION FAILED: .*members.tar: [0-9]+ problems" "$(tail -1 "$T_TMP/v.err")"
rm -f "$T_TMP/members.tar" "$T_TMP/v.out" "$T_TMP/v.err"
