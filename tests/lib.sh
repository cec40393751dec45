# shellcheck shell=bash
# Sourced by every shell test:  . "$(dirname "$0")/../lib.sh"
#
# Provides
#   ROOT BUILD CAPTURE ANALYZE FIXTURES   paths (BUILD: $AI_BUILD, set by tests/run; default build)
#   T_NAME T_TMP                          the test's name and its private temp dir under tests/tmp/
#                                         (removed on exit unless AI_KEEP_TMP=1)
#   CONTAINERS_CONF                       exported: tests/containers.conf
# Checks, each printing one line `ok - DESC` or `not ok - DESC` (+ `#` diagnostics):
#   t_ok DESC cmd...          passes when cmd exits 0
#   t_fail DESC cmd...        passes when cmd exits 1..125 (not: not found, not executable, a signal)
#   t_eq DESC expected actual passes when equal; never when both are empty (use t_empty)
#   t_empty DESC value        passes when value is empty
#   t_match DESC regex string passes when the non-empty string matches the ERE
#   t_skip DESC reason        counted as skipped
#   t_bail DESC [diag...]     records a failure and ends the test now
# Helpers:
#   t_diag MSG...             prints `# MSG`
#   t_case ID DESC            starts a case of the robustness matrix (docs/robustness.md): the
#   t_case_end OUTCOME [FIG]  checks between the two decide whether it held; OUTCOME says what
#                             afterimage did, FIG the figures measured (time, RSS, size). tests/run
#                             writes the matrix from every case of a full run.
#   t_cleanup CMD...          runs CMD (eval'd) at exit, last registered first
#   t_require_capture         fails the test clearly when $CAPTURE was not built
#   t_require_analyze         same for $ANALYZE
#   t_target NAME [podman run args...]  starts a workload container (stopped at exit), sets
#                             T_TARGET_PID (host pid of its init) and T_TARGET_NAME
#
# Results go to $AI_COUNTS/results (one line per check: ok, fail or skip) so tests/run can sum
# them. Run standalone (bash tests/integration/X.sh [BUILD]) a test prints its own summary.
# A test exits non-zero when any of its checks failed.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FIXTURES=$ROOT/tests/fixtures
export CONTAINERS_CONF=$ROOT/tests/containers.conf

BUILD=${AI_BUILD:-${1:-build}}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
export AI_BUILD=$BUILD
CAPTURE=$BUILD/afterimage-capture
ANALYZE=$BUILD/afterimage-analyze

T_NAME=$(basename "$0" .sh)
mkdir -p "$ROOT/tests/tmp"
T_TMP=$(mktemp -d "$ROOT/tests/tmp/$T_NAME.XXXXXX")

T_STANDALONE=0
if [[ -z ${AI_COUNTS:-} ]]; then
	T_STANDALONE=1
	AI_COUNTS=$T_TMP/.counts
	mkdir -p "$AI_COUNTS"
fi
T_RESULTS=$AI_COUNTS/results
: >>"$T_RESULTS"
# Lines already there belong to earlier tests: this test's failures are the ones after them.
T_RESULTS_START=$(wc -l <"$T_RESULTS")
T_CLEANUPS=()

t_diag() { # each argument on its own line(s)
	local arg line
	for arg in "$@"; do
		while IFS= read -r line; do
			printf '#   %s\n' "$line"
		done <<<"$arg"
	done
}

_t_record() { # ok|fail|skip
	echo "$1" >>"$T_RESULTS"
}

_t_pass() {
	printf 'ok - %s\n' "$1"
	_t_record ok
}

_t_failed() { # DESC [diag...]
	local desc=$1
	shift
	printf 'not ok - %s\n' "$desc"
	(($# > 0)) && t_diag "$@"
	_t_record fail
	return 0
}

# Prints at most the last 20 lines of a captured output file as diagnostics.
_t_tail() {
	[[ -s $1 ]] || return 0
	local n
	n=$(wc -l <"$1")
	((n > 20)) && printf '#   ... (%d lines, last 20:)\n' "$n"
	t_diag "$(tail -n 20 "$1")"
}

_t_cmdline() {
	local s='' a
	for a in "$@"; do s+="${s:+ }$(printf '%q' "$a")"; done
	printf '%s' "$s"
}

t_ok() {
	local desc=${1:-}
	if (($# < 2)) || [[ -z $desc ]]; then
		_t_failed "${desc:-t_ok}" "t_ok needs a description and a command"
		return 1
	fi
	shift
	local out=$T_TMP/.t_out rc=0
	"$@" >"$out" 2>&1 || rc=$?
	if ((rc == 0)); then
		_t_pass "$desc"
		return 0
	fi
	_t_failed "$desc" "command exited $rc: $(_t_cmdline "$@")"
	_t_tail "$out"
	return 1
}

t_fail() {
	local desc=${1:-}
	if (($# < 2)) || [[ -z $desc ]]; then
		_t_failed "${desc:-t_fail}" "t_fail needs a description and a command"
		return 1
	fi
	shift
	local out=$T_TMP/.t_out rc=0
	"$@" >"$out" 2>&1 || rc=$?
	if ((rc >= 1 && rc <= 125)); then
		_t_pass "$desc"
		return 0
	fi
	local why="command succeeded (expected a failure)"
	((rc == 126)) && why="command not executable (exit 126)"
	((rc == 127)) && why="command not found (exit 127)"
	((rc > 128)) && why="command killed by signal $((rc - 128)) (a crash is not a rejection)"
	_t_failed "$desc" "$why: $(_t_cmdline "$@")"
	_t_tail "$out"
	return 1
}

t_eq() {
	if (($# != 3)) || [[ -z $1 ]]; then
		_t_failed "${1:-t_eq}" "t_eq needs exactly: DESC EXPECTED ACTUAL (got $# args)"
		return 1
	fi
	if [[ -z $2 && -z $3 ]]; then
		_t_failed "$1" "expected and actual are both empty (vacuous; use t_empty)"
		return 1
	fi
	if [[ $2 == "$3" ]]; then
		_t_pass "$1"
		return 0
	fi
	_t_failed "$1" "expected: $(printf '%q' "$2")" "actual:   $(printf '%q' "$3")"
	return 1
}

t_empty() {
	if (($# != 2)) || [[ -z $1 ]]; then
		_t_failed "${1:-t_empty}" "t_empty needs exactly: DESC VALUE (got $# args)"
		return 1
	fi
	if [[ -z $2 ]]; then
		_t_pass "$1"
		return 0
	fi
	_t_failed "$1" "expected empty, got: $(printf '%q' "$2")"
	return 1
}

t_match() {
	if (($# != 3)) || [[ -z $1 ]]; then
		_t_failed "${1:-t_match}" "t_match needs exactly: DESC REGEX STRING (got $# args)"
		return 1
	fi
	if [[ -z $2 ]]; then
		_t_failed "$1" "empty regex"
		return 1
	fi
	if [[ -z $3 ]]; then
		_t_failed "$1" "empty string (regex: $2)"
		return 1
	fi
	if [[ $3 =~ $2 ]]; then
		_t_pass "$1"
		return 0
	fi
	local shown=$3
	((${#shown} > 2000)) && shown="${shown:0:2000}... (${#3} bytes)"
	_t_failed "$1" "regex:  $2" "string: $shown"
	return 1
}

# The robustness matrix: one row per case, written where tests/run collects them.
T_CASE_ID=
T_CASE_DESC=
T_CASE_START=0
t_case() {
	T_CASE_ID=$1
	T_CASE_DESC=$2
	T_CASE_START=$(wc -l <"$T_RESULTS")
}

t_case_end() {
	local outcome=${1:-} fig=${2:--} held=held
	[[ -n $T_CASE_ID ]] || return 0
	if tail -n +"$((T_CASE_START + 1))" "$T_RESULTS" | grep -qx fail; then
		held="FAILED"
	fi
	# one line per case, no tab (the separator) and no '|' (the table's) inside a field
	local f out=()
	for f in "$T_CASE_ID" "$T_CASE_DESC" "$held" "$outcome" "$fig" "$T_NAME"; do
		f=${f//[$'\t\n']/ }
		out+=("${f//|/\\|}")
	done
	(IFS=$'\t'; echo "${out[*]}") >>"$AI_COUNTS/robustness.tsv"
	T_CASE_ID=
}

t_skip() {
	printf 'ok - %s # SKIP %s\n' "${1:-?}" "${2:-}"
	_t_record skip
}

t_bail() {
	_t_failed "${1:-bail}" "${@:2}"
	exit 1
}

t_cleanup() {
	T_CLEANUPS+=("$*")
}

# t_wait_listening LOG [PID]: wait up to 5 s for serve's "listening" event in LOG; 1 when it did
# not come (or PID exited first).
t_wait_listening() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q '"event":"listening"' "$1" 2>/dev/null && return 0
		[[ -z ${2:-} ]] || kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

t_require_capture() {
	[[ -x $CAPTURE ]] || t_bail "afterimage-capture is built" "missing $CAPTURE: run make (or make BUILD=$BUILD)"
}

t_require_analyze() {
	[[ -x $ANALYZE ]] || t_bail "afterimage-analyze is built" "missing $ANALYZE: run make"
}

t_target() {
	T_TARGET_NAME=$1
	shift
	t_cleanup "bash $(printf '%q' "$FIXTURES/stop-target") $(printf '%q' "$T_TARGET_NAME")"
	local out=$T_TMP/.start-target
	if ! T_TARGET_PID=$(bash "$FIXTURES/start-target" "$T_TARGET_NAME" "$@" 2>"$out"); then
		t_bail "start target container $T_TARGET_NAME" "$(tail -n 20 "$out")"
	fi
	t_diag "target $T_TARGET_NAME: host pid $T_TARGET_PID"
}

_t_exit() {
	local rc=$? i fails
	trap - EXIT
	for ((i = ${#T_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${T_CLEANUPS[i]}" >/dev/null 2>&1 || true
	done
	fails=$(tail -n +$((T_RESULTS_START + 1)) "$T_RESULTS" 2>/dev/null | grep -c '^fail$')
	if ((T_STANDALONE)); then
		printf '%d passed, %d failed, %d skipped\n' "$(grep -c '^ok$' "$T_RESULTS")" "$fails" \
			"$(grep -c '^skip$' "$T_RESULTS")"
	fi
	if [[ ${AI_KEEP_TMP:-0} == 1 ]]; then
		echo "# kept $T_TMP"
	else
		rm -rf "$T_TMP"
	fi
	((fails > 0 && rc == 0)) && rc=1
	exit "$rc"
}
trap _t_exit EXIT
# Turn signals into an exit so cleanups still run (tests/run's timeout sends TERM).
trap 'exit 143' TERM
trap 'exit 130' INT
