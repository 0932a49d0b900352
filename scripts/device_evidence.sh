#!/usr/bin/env bash
# The prepared GPU script [issues 13, 35]: one call of the device tool, on a bare machine (torch and the other
# dependencies installed, no editable ddlib: the repo root goes on PYTHONPATH). Within DEADLINE seconds for the whole
# call it restores the caches a previous call left (CARRY), measures the CUDA options (benchmarks/cuda_speedups.py;
# on a CPU a small rehearsal of it), fills a profile's results store, and packs into $OUT the records (runs.tgz), the
# inputs they read (artefacts.tgz: teachers, scoring runs, distilled sets, as `python -m ddlib keep-artefacts` keeps
# them), their checksums (SHA256SUMS), the log and the plan of what is left. Every step writes as it goes; the last
# part of DEADLINE (at least an eighth) is kept for packing. `make evidence` resumes, so a stopped call loses only the
# runs in flight.
#
#   here:   mkdir -p .device && cp ../shared/data/cifar10/cifar10-jpeg.npz .device/  (.device/ is git-ignored;
#           CIFAR-10 is 56 MB of the tool's 64 MiB)
#   device: run(command="bash scripts/device_evidence.sh gpu-first 360 saturation", carry=[".device"],
#               timeout_s=420)   (the first call: ddlib/profiles/gpu-first.yaml says what it is sized for; later calls
#           paper, a third argument keeping only some chapters: `python -m ddlib plan` shows each one's
#           cost, and a chapter's page needs all of its runs)
#   here:   tar xzf FILES_AT/runs.tgz -C results/<profile>/runs && tar xzf FILES_AT/artefacts.tgz -C \
#           results/<profile>/artefacts && git add results/<profile>   (FILES_AT: the reply's; committed artefacts
#           are restored at the next call's start), cp FILES_AT/cuda_speedups.md benchmarks/; or, uncommitted and
#           where the 64 MiB allow, cp FILES_AT/{runs.tgz,artefacts.tgz,SHA256SUMS} .device/carry/ and the next call
#           runs with CARRY=.device/carry (a pack whose checksum does not match is named in one line and not used)
#
# The device image has torch, numpy, pandas, scipy, scikit-learn, safetensors and pyyaml, but not ddlib's book
# extras: chapters run through `python -m ddlib evidence`, the pages are rendered here.
set -uo pipefail
params=${1:-paper}          # a profile's name (tiny, quick, paper) or a YAML file's path
deadline=${2:-360}
chapters=${3:-}
out=${OUT:-_build/device}
start=$(date +%s)
left() { echo $(( deadline - $(date +%s) + start )); }
mkdir -p "$out"
log="$out/evidence.log"
: > "$log"
say() { echo "$*" | tee -a "$log"; }
export DDLIB_CIFAR10=${DDLIB_CIFAR10:-.device/cifar10-jpeg.npz} DDLIB_CACHE=${DDLIB_CACHE:-.device/cache}
export PYTHONUNBUFFERED=1
# the repo root on the import path: the device has no editable install, and `python3 benchmarks/X.py` puts only
# benchmarks/ there (its `from ddlib import ...` failed) [issue 35]
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
found=$(python3 -c "import sys, torch, ddlib
from ddlib.profile import Profile, read_yaml
p = Profile.from_dict(read_yaml(sys.argv[1]))
print(p.profile, p.store, torch.__version__, torch.cuda.is_available(), ddlib.__path__[0], sep='\n')" "$params" \
      2>> "$log") || { say "error: cannot read the profile $params with this interpreter (see $log)"; exit 2; }
mapfile -t f <<< "$found"
profile=${f[0]} store=${f[1]} cuda=${f[3]}
kept="$(dirname "$store")/artefacts"    # ddlib.artefacts.artefact_dir: results/<profile>/artefacts
# kept for the end: the sweep's grace after SIGINT (its exit), then packing and the plan (a python start-up each,
# timed by the first one), and at least an eighth of the call
startup=$(( $(date +%s) - start ))
grace=$(( 5 + startup ))
reserve=$(( grace + 2 * startup + 5 ))
reserve=$(( deadline / 8 > reserve ? deadline / 8 : reserve ))
say "torch ${f[2]} cuda $cuda ddlib ${f[4]} profile $profile deadline ${deadline}s reserve ${reserve}s"

# What a previous call left: each pack unpacked only if SHA256SUMS beside it vouches for it.
unpack() {
    local pack=$1 dest=$2
    [ -f "$pack" ] || return 0
    if ! (cd "$(dirname "$pack")" && grep " [ *]$(basename "$pack")\$" SHA256SUMS | sha256sum --check --status -) \
            2> /dev/null; then
        say "carry: $pack does not match its checksum in SHA256SUMS; ignored"
    elif mkdir -p "$dest" && tar xzf "$pack" -C "$dest" 2>> "$log"; then
        say "carry: unpacked $pack into $dest"
    else
        say "carry: $pack does not unpack; ignored"
    fi
}
if [ -n "${CARRY:-}" ]; then
    unpack "$CARRY/runs.tgz" "$store"
    unpack "$CARRY/artefacts.tgz" "$kept"
fi
python3 -m ddlib restore-artefacts --profile "$profile" 2>&1 | tee -a "$log"

# The benchmark: its rows are written as they are made, so a stop at its share of the time keeps them.
bench=$(( deadline / 4 < 120 ? deadline / 4 : 120 ))
bench=$(( bench < $(left) - reserve ? bench : $(left) - reserve ))
if [ "$bench" -le 0 ]; then
    say "no time left for the benchmark"
elif [ "$cuda" = True ]; then
    timeout "$bench" python3 benchmarks/cuda_speedups.py --device cuda --out "$out/cuda_speedups.md" >> "$log" 2>&1
else    # the rehearsal's: the same script at a CPU's size
    timeout "$bench" python3 benchmarks/cuda_speedups.py --device cpu --model convnet3-w16-instancenorm \
        --batch 16 --steps 3 --repeats 1 --students 2 --out "$out/cuda_speedups.md" >> "$log" 2>&1
fi

before=$(find "$store" -name '*.json' 2>/dev/null | wc -l)
budget=$(( $(left) - reserve ))
if [ "$budget" -gt 0 ]; then
    # at the deadline SIGINT: the sweep stops its workers; every record written so far stays
    timeout --signal=INT --kill-after=$grace "$budget" python3 -m ddlib evidence --params "$params" \
        ${chapters:+--chapters "$chapters"} 2>&1 | tr '\r' '\n' | grep -v '^$' >> "$log"
    rc=${PIPESTATUS[0]}
else
    say "no time left for the evidence (${budget}s after the reserve of ${reserve}s)"
    rc=124
fi
[ "$rc" = 137 ] && rc=124     # not stopped within the grace: killed, the records written so far stay
[ "$rc" = 0 ] || [ "$rc" = 124 ] || grep '^error:' "$log" | tail -n 1    # e.g. a teacher under its floor
after=$(find "$store" -name '*.json' 2>/dev/null | wc -l)

# The packs: the records, and the inputs they read (ddlib.artefacts), with their checksums.
python3 -m ddlib keep-artefacts --profile "$profile" >> "$log" 2>&1
rm -f "$out/runs.tgz" "$out/artefacts.tgz" "$out/SHA256SUMS"
[ -d "$store" ] && tar czf "$out/runs.tgz" -C "$store" .
[ -d "$kept" ] && tar czf "$out/artefacts.tgz" -C "$kept" .
packs=$(cd "$out" && ls runs.tgz artefacts.tgz 2> /dev/null)
[ -n "$packs" ] && (cd "$out" && sha256sum $packs > SHA256SUMS)
# what is left, at the rate the stored runs of this device measured (python -m ddlib plan), in the time left
[ "$(left)" -gt 2 ] && timeout $(( $(left) - 2 )) python3 -m ddlib plan --params "$params" > "$out/plan.md" \
    2>> "$log"
say "exit=$rc wall_s=$(( $(date +%s) - start )) records_before=$before records_after=$after"
[ "$rc" = 0 ] || [ "$rc" = 124 ]    # finished, or stopped at the deadline: both are progress
