#!/usr/bin/env bash
# afterimage-analyze memory: the CRIU pages of the real Podman checkpoint archive (tests/data:
# mm-N, pagemap-N, pages-N images) and real ELF cores written by stock gcore (gdb) of a small C
# program holding a known heap secret, as a core file and as memory/PID.core members of a tar
# (plain and zstd); a hand-made core whose needle straddles a 64 KiB read chunk; hostile cores.
# Also `ps` on the archive: command lines read back out of the pages.
. "$(dirname "$0")/../lib.sh"
t_require_analyze
A=$ANALYZE
DATA=$ROOT/tests/data/podman-checkpoint
[[ -f $DATA/checkpoint.tar ]] || t_bail "checkpoint archive" "no $DATA/checkpoint.tar"
CK=$DATA/checkpoint.tar
IMG=oci-archive:$DATA/image-oci-archive.tar
rows() { grep -c '^[0-9]' <<<"$1"; }

# ---- CRIU: mappings
all=$("$A" memory "$CK" --maps)
t_ok "memory --maps on the checkpoint archive" test -n "$all"
nall=$(rows "$all")
# one row per vma_entry of every mm-N.img: 10 processes of busybox, 11 VMAs each (mm-21: 12)
t_eq "every VMA of the 10 processes listed" "111" "$nall"
t_match "pid 1: busybox text mapped r-x from /bin/busybox" \
	'(^|
)1 +0000000000401000-0000000000585000 +1589248 r-x +file +[0-9]+ /bin/busybox' "$all"
t_eq "one heap per process" "10" "$(grep -c ' heap ' <<<"$all")"
t_eq "one stack per process" "10" "$(grep -c ' stack ' <<<"$all")"
t_eq "one vdso per process" "10" "$(grep -c ' vdso ' <<<"$all")"
n1=$(rows "$("$A" memory "$CK" --maps --pid 1)")
t_eq "--pid 1: only pid 1's 11 VMAs" "11" "$n1"
rw=$("$A" memory "$CK" --maps --prot rw-)
t_ok "--prot rw-: fewer rows" test "$(rows "$rw")" -lt "$nall"
t_empty "--prot rw-: every row is rw-" "$(grep '^[0-9]' <<<"$rw" | awk '$4 != "rw-"')"
rx=$("$A" memory "$CK" --maps --prot x)
t_empty "--prot x: every row executable" "$(grep '^[0-9]' <<<"$rx" | awk '$4 !~ /x$/')"
t_eq "--vma heap: the 10 heaps" "10" "$(rows "$("$A" memory "$CK" --maps --vma heap)")"
t_eq "--vma busybox: the 5 file VMAs of each process" "50" "$(rows "$("$A" memory "$CK" --maps --vma busybox)")"
t_eq "--vma /bin/busybox: the same" "50" "$(rows "$("$A" memory "$CK" --maps --vma /bin/busybox)")"
t_eq "--addr 400000-5e5000: the busybox VMAs only" "50" "$(rows "$("$A" memory "$CK" --maps --addr 400000-5e5000)")"
t_eq "--addr plus --pid" "5" "$(rows "$("$A" memory "$CK" --maps --addr 0x400000-0x5e5000 --pid 11)")"
J=$T_TMP/maps.json
"$A" memory "$CK" --maps --json >"$J"
t_ok "--maps --json is JSON (python3 -m json.tool)" python3 -m json.tool "$J"
t_eq "--maps --json: as many maps as the table" "$nall" "$(jq '.maps | length' "$J")"
t_eq "--maps --json: pid 1's heap" "rw- heap" \
	"$(jq -r '.maps[] | select(.pid==1 and .kind=="heap") | "\(.prot) \(.kind)"' "$J")"
imgm=$("$A" memory "$CK" --maps --pid 1 --image "$IMG")
t_match "--image: /bin/busybox comes from layer 1" 'layer 1 +/bin/busybox' "$imgm"

# ---- CRIU: search in the pages (a command line lives at the top of its stack)
s=$("$A" memory "$CK" --search 100001 --vma stack --context 16 2>"$T_TMP/err")
t_match "--search 100001 found in pid 15's stack" '^pid 15  0x[0-9a-f]+  \+0x[0-9a-f]+ in [0-9a-f-]+ rw- stack' "$s"
t_match "the dump shows its argv (sleep, 100001), NULs as dots" 'sleep\.\|
.*\|100001\.' "$s"
t_match "match count on stderr" '^1 match$' "$(cat "$T_TMP/err")"
t_eq "without --vma stack: also in the heaps of the two shells (their script text)" "3" \
	"$("$A" memory "$CK" --search 100001 --json | jq .count)"
t_empty "no raw control byte in the dump" "$(LC_ALL=C grep -P '[\x00-\x08\x0b-\x1f\x7f]' <<<"$s")"
nh=$("$A" memory "$CK" --search /data --json | jq '.count')
ns=$("$A" memory "$CK" --search /data --json --vma stack | jq '.count')
nhp=$("$A" memory "$CK" --search /data --json --vma heap | jq '.count')
t_ok "--search /data: found (httpd -h /data and the env)" test "$nh" -gt 0
t_ok "--vma stack narrows the matches" test "$ns" -lt "$nh"
t_eq "--vma stack + --vma heap matches no more than all" "1" "$((ns + nhp <= nh))"
t_eq "--pid 11 --vma stack: httpd's /data argument" "pid 11" \
	"$("$A" memory "$CK" --search /data --pid 11 --vma stack --context 0 -q | grep -o '^pid 11' | head -1)"
t_empty "--pid 12: not there" "$("$A" memory "$CK" --search 'httpd' --pid 12 --vma stack --context 0 -q)"
r=$("$A" memory "$CK" --regex 'nc[^a-z]-ll' --json)
t_ok "--regex --json is JSON" jq -e . <<<"$r"
t_eq "--regex finds nc's -ll in pid 12's stack" "12 stack" "$(jq -r '[.matches[] | select(.map.kind=="stack")][0] | "\(.pid) \(.map.kind)"' <<<"$r")"
t_fail "--search and --regex together: usage" "$A" memory "$CK" --search a --regex b
t_fail "--maps and --search together: usage" "$A" memory "$CK" --maps --search a
t_fail "--addr garbage: usage" "$A" memory "$CK" --maps --addr zz
t_fail "--prot garbage: usage" "$A" memory "$CK" --maps --prot q

# ---- ps: the command lines out of the pages
ps=$("$A" ps "$CK")
t_match "ps: httpd's command line" 'httpd -f -p 8080 -h /data' "$ps"
t_match "ps: nc's command line" 'nc -ll -p 9090 -e /bin/cat' "$ps"
t_match "ps: the exec'd sleep of the 2-level tree" 'sleep 100001' "$ps"
t_eq "ps --json: pid 19's argv" '["nc","127.0.0.1","9090"]' \
	"$("$A" ps "$CK" --json | jq -c '.processes[] | select(.pid==19) | .cmdline')"

# ---- ELF cores by stock gcore: a C program with a known heap secret
if ! command -v gcore >/dev/null || ! command -v cc >/dev/null; then
	t_skip "gcore cores" "no gcore (gdb) or cc"
else
	cc -O0 -g -pthread -o "$T_TMP/memsecret" "$FIXTURES/memsecret.c" || t_bail "cc memsecret.c"
	"$T_TMP/memsecret" "t58-$$" >"$T_TMP/ms.out" &
	MS=$!
	t_cleanup "kill $MS 2>/dev/null"
	for _ in $(seq 50); do [[ -s $T_TMP/ms.out ]] && break; sleep 0.1; done
	heap=$(awk '{print $2}' "$T_TMP/ms.out")
	gcore -o "$T_TMP/core" "$MS" >"$T_TMP/gcore.log" 2>&1
	CORE=$T_TMP/core.$MS
	kill "$MS"
	[[ -s $CORE ]] || t_bail "gcore wrote a core" "$(cat "$T_TMP/gcore.log")"
	t_match "gdb reads the core's global" '0x5ec7e7c0ffee1234' \
		"$(gdb -batch -ex 'p/x ai_known_global' "$T_TMP/memsecret" "$CORE" 2>/dev/null)"
	m=$("$A" memory "$CORE" --maps)
	t_match "core --maps: pid and the executable's mapping" "^PID.*
$MS +[0-9a-f]+-[0-9a-f]+ +[0-9]+ r-- +file +[0-9]+ $T_TMP/memsecret" "$m"
	t_match "core --maps: libc mapped from its file (NT_FILE)" 'libc\.so\.6' "$m"
	t_match "core --maps: a heap after the executable" ' rw-  heap ' "$m"
	t_ok "core --maps: two thread stacks" test "$(grep -c ' stack ' <<<"$m")" -ge 2
	secret="AI-HEAP-SECRET-t58-$$-5ec7e7c0ffee1234"
	hits=$("$A" memory "$CORE" --search "$secret" --json)
	t_eq "the heap secret found at the address the program printed" "$(printf '0x%x' "$heap") heap" \
		"$(jq -r '.matches[] | "\(.address) \(.map.kind)"' <<<"$hits")"
	t_eq "--vma heap finds it" "1" "$("$A" memory "$CORE" --search "$secret" --vma heap --json | jq .count)"
	t_eq "--vma stack does not" "0" "$("$A" memory "$CORE" --search "$secret" --vma stack --json | jq .count)"
	t_eq "--prot r-x does not" "0" "$("$A" memory "$CORE" --search "$secret" --prot r-x --json | jq .count)"
	mkdir -p "$T_TMP/b/memory"
	cp "$CORE" "$T_TMP/b/memory/$MS.core"
	tar -C "$T_TMP/b" -cf "$T_TMP/bundle.tar" memory
	tar -C "$T_TMP/b" --zstd -cf "$T_TMP/bundle.tar.zst" memory
	for B in "$T_TMP/bundle.tar" "$T_TMP/bundle.tar.zst"; do
		t_eq "memory/PID.core member of ${B##*/}: the secret" "$(printf '0x%x' "$heap") $MS" \
			"$("$A" memory "$B" --search "$secret" --json | jq -r '.matches[] | "\(.address) \(.pid)"')"
		t_eq "memory/PID.core member of ${B##*/}: the same maps" "$m" "$("$A" memory "$B" --maps)"
	done
fi

# ---- a hand-made core: the needle straddles file offset 65536 (two 64 KiB reads)
at=$(python3 "$FIXTURES/mkcore.py" "$T_TMP/syn.core" NEEDLE-ACROSS-THE-CHUNK)
t_eq "a match across read chunks is found" "$at" \
	"$("$A" memory "$T_TMP/syn.core" --search NEEDLE-ACROSS-THE-CHUNK --json | jq -r '.matches[0].address')"
t_eq "--regex across read chunks" "$at" \
	"$("$A" memory "$T_TMP/syn.core" --regex 'NEEDLE-[A-Z-]+CHUNK' --json | jq -r '.matches[0].address')"
t_eq "--addr that excludes it" "0" \
	"$("$A" memory "$T_TMP/syn.core" --search NEEDLE --addr 0-7f0000000000 --json | jq .count)"
t_eq "NT_FILE path and NT_PRPSINFO pid" "4242 /usr/lib/fake.so" \
	"$("$A" memory "$T_TMP/syn.core" --maps --json | jq -r '.maps[0] | "\(.pid) \(.path)"')"

# ---- hand-made CRIU images: both page-count fields, a zero-page entry, a needle across two
# pagemap entries and a 64 KiB read
read -r at2 second < <(python3 "$FIXTURES/mkcriu.py" "$T_TMP/criu" NEEDLE-ACROSS-ENTRIES)
tar -C "$T_TMP/criu" -cf "$T_TMP/criu.tar" checkpoint
t_match "CRIU maps: 36 pages, 32 dumped (the 4 zero pages are not)" '147456 rw- +stack +131072 -' \
	"$("$A" memory "$T_TMP/criu.tar" --maps)"
t_eq "CRIU: a needle across pagemap entries (64-bit, then 32-bit count) found" "$at2" \
	"$("$A" memory "$T_TMP/criu.tar" --search NEEDLE-ACROSS-ENTRIES --json | jq -r '.matches[0].address')"
t_eq "CRIU: the second entry's bytes at their address" "$second" \
	"$("$A" memory "$T_TMP/criu.tar" --search SECOND-NEEDLE --json | jq -r '.matches[0].address')"
python3 "$FIXTURES/mkcriu.py" "$T_TMP/criu2" X --garbage-pagemap >/dev/null
tar -C "$T_TMP/criu2" -cf "$T_TMP/criu2.tar" checkpoint
"$A" memory "$T_TMP/criu2.tar" --maps >"$T_TMP/g.out" 2>"$T_TMP/g.err"
t_eq "a garbage pagemap: still exit 0, the VMAs listed" "0 1" "$? $(rows "$(cat "$T_TMP/g.out")")"
t_match "a garbage pagemap: a warning names it" 'pagemap-7.img' "$(cat "$T_TMP/g.err")"

# ---- bounded memory: a 256 MiB core (sparse) searched at a few MB of RSS
if [[ -x /usr/bin/time ]]; then
	python3 - "$T_TMP/big.core" <<'PY'
import struct, sys
size = 256 << 20
eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8 + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)
ph = struct.pack("<IIQQQQQQ", 1, 6, 4096, 0x7F0000000000, 0, size, size, 4096)
with open(sys.argv[1], "wb") as f:
    f.write(eh + ph)
    f.seek(4096 + size - 64)
    f.write(b"BIG-CORE-NEEDLE".ljust(64, b"\0"))
PY
	/usr/bin/time -f %M -o "$T_TMP/rss" "$A" memory "$T_TMP/big.core" --search BIG-CORE-NEEDLE -q --json >"$T_TMP/big.json"
	t_eq "256 MiB core: the needle at its end found" "0x7f000fffffc0" \
		"$(jq -r '.matches[0].address' "$T_TMP/big.json")"
	t_ok "256 MiB core: peak RSS under 16 MiB ($(cat "$T_TMP/rss") KiB)" test "$(cat "$T_TMP/rss")" -lt 16384
else
	t_skip "bounded memory" "no /usr/bin/time"
fi

# ---- hostile CRIU: 200,000 VMAs, each covered by all of 200,000 overlapping pagemap entries
mkdir -p "$T_TMP/hc/checkpoint"
python3 - "$T_TMP/hc/checkpoint" <<'PY'
import struct, sys
def varint(v):
    b = b""
    while True:
        c, v = v & 0x7F, v >> 7
        if v:
            b += bytes([c | 0x80])
        else:
            return b + bytes([c])
fld = lambda n, v: varint(n << 3) + varint(v)
msg = lambda n, b: varint(n << 3 | 2) + varint(len(b)) + b
def img(m, es):
    return struct.pack("<II", 0x54564319, m) + b"".join(struct.pack("<I", len(e)) + e for e in es)
N = 200000
mm = b"".join(msg(14, fld(1, 0x1000 * (i + 1)) + fld(2, 0x1000 * (i + 2)) + fld(7, 1 << 9)) for i in range(N))
open(sys.argv[1] + "/mm-1.img", "wb").write(img(0x57492820, [mm]))
open(sys.argv[1] + "/pagemap-1.img", "wb").write(img(0x56084025, [fld(1, 1)] + [fld(1, 0) + fld(5, 1 << 20) + fld(4, 4)] * N))
PY
tar -C "$T_TMP/hc" -cf "$T_TMP/hc.tar" checkpoint
t_eq "overlapping hostile pagemap: 200,000 VMAs listed within 20 s" "200001" \
	"$(timeout 20 "$A" memory "$T_TMP/hc.tar" --maps -q | wc -l)"
t_eq "overlapping hostile pagemap: a search within 20 s (no pages image: nothing)" "0" \
	"$(timeout 20 "$A" memory "$T_TMP/hc.tar" --search abc -q --json | jq .count)"

# ---- hostile: a core cut short, headers cut short, not a core, a non-core ELF
python3 "$FIXTURES/mkcore.py" "$T_TMP/cut.core" X --truncate 30000 >/dev/null
t_ok "a core cut short: still listed" "$A" memory "$T_TMP/cut.core" --maps -q
t_match "a core cut short: what is dumped says so" '21808 -$' "$("$A" memory "$T_TMP/cut.core" --maps -q)"
python3 "$FIXTURES/mkcore.py" "$T_TMP/cut2.core" X --truncate 100 >/dev/null
"$A" memory "$T_TMP/cut2.core" --maps >/dev/null 2>"$T_TMP/err2"
t_eq "headers cut short: exit 3" "3" "$?"
t_match "headers cut short: says so" 'cut short in its headers' "$(cat "$T_TMP/err2")"
"$A" memory "$A" --maps >/dev/null 2>&1
t_eq "an ELF executable, not a core: exit 3" "3" "$?"
head -c 5000 /dev/urandom >"$T_TMP/rand"
"$A" memory "$T_TMP/rand" --maps >/dev/null 2>&1
t_eq "random bytes: exit 3" "3" "$?"
