#!/usr/bin/env bash
# The Kubernetes manifests in docs/kubernetes/ say what docs/kubernetes.md promises: a native
# sidecar in a pod sharing its pid namespace, preStop httpGet with the token header, a grace period
# larger than the sidecar's, exactly the capabilities serve keeps, a read-only root, a read-only
# hostPath of containerd's snapshots, a durable output volume; every serve flag exists.
. "$(dirname "$0")/../lib.sh"
t_require_capture
M=$ROOT/docs/kubernetes/pod.yaml
t_ok "pod.yaml exists" test -f "$M"

if python3 -c 'import yaml' 2>/dev/null; then
	t_ok "pod.yaml and secrets.yaml are valid YAML" python3 -c '
import sys, yaml
for f in sys.argv[1:]:
    list(yaml.safe_load_all(open(f)))' "$M" "$ROOT/docs/kubernetes/secrets.yaml"
else
	t_skip "YAML syntax" "python3-yaml not installed"
fi
strip() { sed 's/#.*$//' "$M"; } # comments never satisfy a check
# section NAME: the lines of the top-level spec list NAME (initContainers/containers/volumes)
section() { strip | awk -v s="  $1:" '$0 == s {on=1; next} on && /^  [a-zA-Z]/ {on=0} on'; }

t_match "kind: Pod" $'(^|\n)kind: Pod\n' "$(strip)"
t_match "shareProcessNamespace: true" $'\n  shareProcessNamespace: true' "$(strip)"
init=$(section initContainers)
t_match "the sidecar is an initContainer with restartPolicy: Always (native sidecar)" \
	'- name: afterimage.*restartPolicy: Always' "$(tr '\n' ' ' <<<"$init")"
t_match "the sidecar runs serve" 'args:[[:space:]]+- serve' "$(tr '\n' ' ' <<<"$init")"
app=$(section containers)
t_match "the app has preStop httpGet on /v1/capture port 9102" \
	'preStop:[[:space:]]+httpGet:[[:space:]]+path: /v1/capture[^ ]*[[:space:]]+port: 9102' "$(tr '\n' ' ' <<<"$app")"
t_match "preStop sends the Authorization: Bearer header" \
	'httpHeaders:[[:space:]]+- name: Authorization[[:space:]]+value: Bearer [^ ]+' "$(tr '\n' ' ' <<<"$app")"
grace=$(strip | sed -n 's/^  terminationGracePeriodSeconds: *\([0-9]*\)$/\1/p')
sgrace=$(grep -o -- '--grace=[0-9]*' <<<"$init" | cut -d= -f2)
t_ok "terminationGracePeriodSeconds ($grace) > the sidecar's --grace ($sgrace)" test "${grace:-0}" -gt "${sgrace:-999999}"
t_match "readOnlyRootFilesystem: true" 'readOnlyRootFilesystem: true' "$init"
t_match "allowPrivilegeEscalation: false" 'allowPrivilegeEscalation: false' "$init"
t_match "capabilities drop ALL" 'drop: \["ALL"\]' "$init"
add=$(sed -n 's/^ *add: \[\(.*\)\]$/\1/p' <<<"$init" | tr -d '" ' | tr ',' '\n' | tr 'A-Z' 'a-z' | sed 's/^/cap_/' | sort | paste -sd,)
# the set the binary keeps, from its own "listening" event
"$CAPTURE" serve --key /dev/null -o "$T_TMP" --listen none >/dev/null 2>&1 # usage only, never runs
"$CAPTURE" keygen -o "$T_TMP/k" >/dev/null
"$CAPTURE" serve --key "$T_TMP/k.key" -o "$T_TMP" --listen none --socket "$T_TMP/s.sock" --target-pid 1 2>"$T_TMP/log" &
spid=$!
t_cleanup "kill -9 $spid"
t_wait_listening "$T_TMP/log" "$spid" || true # then no capabilities: the check below fails
kept=$(grep -o '"capabilities":"[^"]*"' "$T_TMP/log" | cut -d'"' -f4)
kill -TERM "$spid"
t_eq "capabilities added = exactly the set serve keeps" "$kept" "$add"
t_match "docs/sidecar.md documents the CapEff tests/integration/41 reads from the running serve" \
	'CapEff:[[:space:]]+000000000028002c' "$(cat "$ROOT/docs/sidecar.md")"
vols=$(section volumes)
t_match "containerd snapshot dir as a hostPath volume" \
	'hostPath: \{path: /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs' "$vols"
t_match "mounted read-only at the same path" \
	'mountPath: /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs[[:space:]]+readOnly: true' "$(tr '\n' ' ' <<<"$init")"
bvol=$(grep -A1 -- '- name: bundles' <<<"$vols" | tail -1)
t_match "the output volume is durable (hostPath or PVC)" 'hostPath|persistentVolumeClaim' "$bvol"
t_empty "the output volume is not an emptyDir" "$(grep emptyDir <<<"$bvol")"
t_match "output mounted where --output points" "--output=([^ ]+).*mountPath: \\1" "$(tr '\n' ' ' <<<"$init")"
usage=$("$CAPTURE" help 2>&1)
bad=
for f in $(grep -o -- '- --[a-z-]*' <<<"$init" | cut -c3-); do
	grep -q -- "$f\b" <<<"$usage" || bad+=" $f"
done
t_empty "every flag in the manifest is a serve flag" "$bad"
t_match "docs/kubernetes.md explains that preStop is skipped on a crash" 'crash' "$(cat "$ROOT/docs/kubernetes.md")"
t_match "docs/kubernetes.md says the grace period counts from before preStop" 'before\*\* preStop|before preStop' \
	"$(cat "$ROOT/docs/kubernetes.md")"
