# shellcheck shell=bash
# Sourced by every benchmark: the one way a benchmark times something or prints a ratio.
#
#   bench_pairs [OPTIONS] NAME CMD_A... -- CMD_B...
#       One warm-up run of A and of B (not counted), then N pairs: A B in odd pairs, B A in even
#       ones, so a machine loaded by others weighs on both alike and neither always runs second.
#       Prints one line per figure: the median (min-max) of A, of B, and of the per-pair ratio A/B.
#   bench_runs [OPTIONS] NAME CMD...
#       One warm-up run, then N runs; one line per figure: median (min-max).
#
# Each run: the side's --prep (eval'd in this shell, not timed: e.g. deleting the previous
# output), then CMD under GNU time (/usr/bin/time -f %M: the peak RSS of the largest single process
# of the command's tree) with the wall time read from $EPOCHREALTIME around it, then the side's
# --post (eval'd, not timed). CMD runs as `bash -c 'set -euo pipefail; FUNCTIONS; "$@"' CMD...`
# whether it is a program or a shell function, so both sides pay the same start-up (~3 ms): a
# function sees every function defined here but only exported variables.
# CMD or --post may append lines `FIGURE VALUE UNIT` to $BENCH_FIGURES (e.g. `freeze 12.3 ms`);
# --post reads the run's output from $BENCH_OUT and $BENCH_ERR. Those figures are reported like
# wall and rss; a figure only one side reports gets no ratio.
# A run, --prep or --post that exits non-zero stops the benchmark (the run's stderr is shown).
#
# Options: -n N (default $AI_BENCH_PAIRS, else 7), -a LABEL / -b LABEL (default A / B),
#   --prep-a CMD / --prep-b CMD, --post-a CMD / --post-b CMD, --no-wall, --no-rss (when the
#   command's own figures are what counts).
# After a call, for each figure F: BENCH_MED_A[F] BENCH_MIN_A[F] BENCH_MAX_A[F], the same with _B,
# BENCH_RATIO[F] BENCH_RATIO_MIN[F] BENCH_RATIO_MAX[F] (pairs only) and BENCH_UNIT[F].
# bench_goal NAME VALUE OP GOAL UNIT prints `NAME: VALUE UNIT, goal OP GOAL UNIT: goal met` (or
# `goal not met`); OP is <= or >=.

export LC_ALL=C
BENCH_PAIRS_DEFAULT=${AI_BENCH_PAIRS:-7}
# shellcheck disable=SC2034 # read by the benchmarks that source this
declare -gA BENCH_MED_A BENCH_MIN_A BENCH_MAX_A BENCH_MED_B BENCH_MIN_B BENCH_MAX_B
declare -gA BENCH_RATIO BENCH_RATIO_MIN BENCH_RATIO_MAX BENCH_UNIT

# A number for people: about three significant digits.
bench_fmt() {
	awk -v v="$1" 'BEGIN {
		a = v < 0 ? -v : v
		if (a >= 100) printf "%.0f", v; else if (a >= 10) printf "%.1f", v
		else if (a >= 1) printf "%.2f", v; else printf "%.3f", v }'
}

# _bench_run SIDE INDEX: one run of side a or b; its figures go to $_BW/SIDE.INDEX.
_bench_run() {
	local side=$1 i=$2 f=$_BW/$1.$2 hook t0 t1 rc kib
	local -n cmd=_BCMD_$side
	export BENCH_FIGURES=$f.fig BENCH_OUT=$f.out BENCH_ERR=$f.err
	: >"$f.fig"
	hook=_BPREP_$side
	if [[ -n ${!hook} ]]; then
		eval "${!hook}" || { echo "$_BNAME: --prep of ${_BLABEL[$side]} failed" >&2; return 1; }
	fi
	t0=$EPOCHREALTIME
	/usr/bin/time -f %M -o "$f.time" bash -c "$_BWRAP" bench "${cmd[@]}" >"$f.out" 2>"$f.err"
	rc=$?
	t1=$EPOCHREALTIME
	if ((rc != 0)); then
		echo "$_BNAME: ${_BLABEL[$side]:+${_BLABEL[$side]} }run $i failed (exit $rc): ${cmd[*]}" >&2
		tail -n 20 "$f.err" >&2
		return 1
	fi
	hook=_BPOST_$side
	if [[ -n ${!hook} ]]; then
		eval "${!hook}" || { echo "$_BNAME: --post of ${_BLABEL[$side]:+${_BLABEL[$side]} }run $i failed" >&2; return 1; }
	fi
	kib=$(tail -n 1 "$f.time")
	if grep -Evq '^[A-Za-z][A-Za-z0-9_.-]* -?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)? [^ ]+$' "$f.fig"; then
		echo "$_BNAME: ${_BLABEL[$side]:+${_BLABEL[$side]} }run $i reported a malformed figure (want: FIGURE NUMBER UNIT):" >&2
		grep -Ev '^[A-Za-z][A-Za-z0-9_.-]* -?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)? [^ ]+$' "$f.fig" >&2
		return 1
	fi
	{
		((_BWALL)) && awk -v us=$((${t1/./} - ${t0/./})) 'BEGIN {printf "wall %.6f s\n", us / 1e6}'
		((_BRSS)) && awk -v k="$kib" 'BEGIN {printf "rss %.3f MiB\n", k / 1024}'
		cat "$f.fig"
	} >"$f"
}

# _bench_report N: reads $_BW/{a,b}.{1..N}, fills the BENCH_* arrays and prints the lines.
_bench_report() {
	local n=$1 fig unit ma mina maxa mb minb maxb mr minr maxr line parts
	BENCH_MED_A=() BENCH_MIN_A=() BENCH_MAX_A=() BENCH_MED_B=() BENCH_MIN_B=() BENCH_MAX_B=()
	BENCH_RATIO=() BENCH_RATIO_MIN=() BENCH_RATIO_MAX=() BENCH_UNIT=()
	# One record per figure, in the order A reported them (then B's own):
	# FIG UNIT MED_A MIN_A MAX_A MED_B MIN_B MAX_B MED_R MIN_R MAX_R (- where absent)
	# shellcheck disable=SC2034 # read by the benchmarks that source this
	while read -r fig unit ma mina maxa mb minb maxb mr minr maxr; do
		BENCH_UNIT[$fig]=$unit
		[[ $ma != - ]] && BENCH_MED_A[$fig]=$ma BENCH_MIN_A[$fig]=$mina BENCH_MAX_A[$fig]=$maxa
		[[ $mb != - ]] && BENCH_MED_B[$fig]=$mb BENCH_MIN_B[$fig]=$minb BENCH_MAX_B[$fig]=$maxb
		[[ $mr != - ]] && BENCH_RATIO[$fig]=$mr BENCH_RATIO_MIN[$fig]=$minr BENCH_RATIO_MAX[$fig]=$maxr
		parts=()
		[[ $ma != - ]] && parts+=("${_BLABEL[a]:+${_BLABEL[a]} }$(bench_fmt "$ma") $unit ($(bench_fmt "$mina")-$(bench_fmt "$maxa"))")
		[[ $mb != - ]] && parts+=("${_BLABEL[b]} $(bench_fmt "$mb") $unit ($(bench_fmt "$minb")-$(bench_fmt "$maxb"))")
		if [[ $mr != - ]]; then
			parts+=("$(printf '%s/%s %.3fx (%.3f-%.3f), %d pairs' "${_BLABEL[a]}" "${_BLABEL[b]}" "$mr" "$minr" "$maxr" "$n")")
		elif ((${#_BCMD_b[@]})); then
			parts[-1]+=", $n pairs"
		else
			parts[-1]+=", $n runs"
		fi
		line="$_BNAME $fig: ${parts[0]}"
		((${#parts[@]} > 1)) && line+="  ${parts[1]}"
		((${#parts[@]} > 2)) && line+="  ${parts[2]}"
		echo "$line"
	done < <(
		for ((i = 1; i <= n; i++)); do
			sed "s/^/a $i /" "$_BW/a.$i"
			[[ -e $_BW/b.$i ]] && sed "s/^/b $i /" "$_BW/b.$i"
		done | awk '
		function med(k, c,   s, m, j, t, x, y) { # median of vals[k, 1..c]
			for (j = 1; j <= c; j++) s[j] = vals[k, j]
			for (j = 2; j <= c; j++) { t = s[j]; for (m = j - 1; m >= 1 && s[m] > t; m--) s[m + 1] = s[m]; s[m + 1] = t }
			x = s[int((c + 1) / 2)]; y = s[int(c / 2) + 1]
			lo = s[1]; hi = s[c]
			return (x + y) / 2
		}
		{ side = $1; i = $2; f = $3; v[side, i, f] = $4; unit[f] = $5
		  if (!((f) in seen)) { seen[f] = 1; order[++nf] = f } }
		END {
			for (q = 1; q <= nf; q++) {
				f = order[q]; out = f " " unit[f]
				for (sd = 1; sd <= 2; sd++) {
					side = sd == 1 ? "a" : "b"; c = 0
					for (i = 1; i <= '"$n"'; i++) if ((side, i, f) in v) vals[side, ++c] = v[side, i, f]
					if (c) { m = med(side, c); out = out " " m " " lo " " hi } else out = out " - - -"
				}
				c = 0
				for (i = 1; i <= '"$n"'; i++)
					if (("a", i, f) in v && ("b", i, f) in v && v["b", i, f] != 0)
						vals["r", ++c] = v["a", i, f] / v["b", i, f]
				if (c) { m = med("r", c); out = out " " m " " lo " " hi } else out = out " - - -"
				print out
			}
		}'
	)
}

# _bench_opts ARGS...: parses the options into the _B* globals; sets _BSHIFT.
_bench_opts() {
	_BN=$BENCH_PAIRS_DEFAULT _BWALL=1 _BRSS=1 _BPREP_a='' _BPREP_b='' _BPOST_a='' _BPOST_b='' _BSHIFT=0
	# Both sides, function or program, run through the same wrapper: the same start-up cost.
	_BWRAP="set -euo pipefail; $(declare -f); \"\$@\""
	declare -gA _BLABEL=([a]=A [b]=B)
	while (($#)); do
		case $1 in
		-n) _BN=$2 _BSHIFT=$((_BSHIFT + 2)) && shift 2 ;;
		-a) _BLABEL[a]=$2 _BSHIFT=$((_BSHIFT + 2)) && shift 2 ;;
		-b) _BLABEL[b]=$2 _BSHIFT=$((_BSHIFT + 2)) && shift 2 ;;
		--prep-a) _BPREP_a=$2 _BSHIFT=$((_BSHIFT + 2)) && shift 2 ;;
		--prep-b) _BPREP_b=$2 _BSHIFT=$((_BSHIFT + 2)) && shift 2 ;;
		--post-a) _BPOST_a=$2 _BSHIFT=$((_BSHIFT + 2)) && shift 2 ;;
		--post-b) _BPOST_b=$2 _BSHIFT=$((_BSHIFT + 2)) && shift 2 ;;
		--no-wall) _BWALL=0 _BSHIFT=$((_BSHIFT + 1)) && shift ;;
		--no-rss) _BRSS=0 _BSHIFT=$((_BSHIFT + 1)) && shift ;;
		*) break ;;
		esac
	done
	[[ $_BN =~ ^[1-9][0-9]*$ ]] || { echo "bench: N must be a positive integer, not '$_BN'" >&2; return 1; }
}

bench_pairs() {
	_bench_opts "$@" || return 1
	shift "$_BSHIFT"
	_BNAME=$1
	shift
	_BCMD_a=() _BCMD_b=()
	while (($#)) && [[ $1 != -- ]]; do
		_BCMD_a+=("$1")
		shift
	done
	(($#)) && shift
	_BCMD_b=("$@")
	((${#_BCMD_a[@]} && ${#_BCMD_b[@]})) || { echo "bench_pairs: usage: NAME CMD_A... -- CMD_B..." >&2; return 1; }
	_BW=$(mktemp -d "${TMPDIR:-/tmp}/ai-bench-pairs.XXXXXX")
	local i rc=0
	{ _bench_run a 0 && _bench_run b 0; } || rc=1
	for ((i = 1; rc == 0 && i <= _BN; i++)); do
		if ((i % 2)); then
			{ _bench_run a "$i" && _bench_run b "$i"; } || rc=1
		else
			{ _bench_run b "$i" && _bench_run a "$i"; } || rc=1
		fi
	done
	((rc == 0)) && _bench_report "$_BN"
	rm -rf "$_BW"
	return $rc
}

bench_runs() {
	_bench_opts "$@" || return 1
	shift "$_BSHIFT"
	_BNAME=$1
	shift
	_BCMD_a=("$@") _BCMD_b=()
	[[ ${_BLABEL[a]} == A ]] && _BLABEL[a]=
	((${#_BCMD_a[@]})) || { echo "bench_runs: usage: NAME CMD..." >&2; return 1; }
	_BW=$(mktemp -d "${TMPDIR:-/tmp}/ai-bench-runs.XXXXXX")
	local i rc=0
	for ((i = 0; rc == 0 && i <= _BN; i++)); do
		_bench_run a "$i" || rc=1
	done
	((rc == 0)) && _bench_report "$_BN"
	rm -rf "$_BW"
	return $rc
}

bench_goal() {
	local name=$1 v=$2 op=$3 goal=$4 unit=$5 met
	met=$(awk -v v="$v" -v g="$goal" -v op="$op" 'BEGIN {print (op == "<=" ? v <= g : v >= g) ? "goal met" : "goal not met"}')
	echo "$name: $(bench_fmt "$v")$unit, goal $op $goal$unit: $met"
}
