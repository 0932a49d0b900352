#!/usr/bin/env bash
# The prepared GPU script [issue 13]: one call of the device tool measures the CUDA options
# (benchmarks/cuda_speedups.py, at most 120 s, on CUDA only), fills a profile's results store for at most DEADLINE
# seconds, then packs the records into $OUT (the tool returns at most 8 files, so one archive).
# `make evidence` resumes, so a stopped call loses only the runs in flight; carry the unpacked store back to go on.
#
#   here:   mkdir -p .device && cp ../shared/data/cifar10/cifar10-jpeg.npz .device/  (.device/ is git-ignored;
#           CIFAR-10 is 56 MB of the tool's 64 MiB)
#   device: run(command="bash scripts/device_evidence.sh paper 360", carry=[".device"], timeout_s=540)
#           (a third argument keeps only some chapters, e.g. `saturation`: `python -m ddlib plan` shows what each
#           costs, and a chapter's page needs all of its runs)
#   here:   tar xzf FILES_AT/runs.tgz -C results/paper/runs && git add results/paper/runs   (FILES_AT: the reply's)
#           cp FILES_AT/cuda_speedups.md benchmarks/   (FILES_AT/plan.md: the runs left and their time at the
#           rate this device measured)
#
# The device image has torch, numpy, pandas, scipy, scikit-learn, safetensors and pyyaml, but not ddlib's book
# extras: chapters run through `python -m ddlib evidence`, the pages are rendered here.
set -uo pipefail
params=${1:-paper}          # a profile's name (tiny, quick, paper) or a YAML file's path
deadline=${2:-360}
chapters=${3:-}
out=${OUT:-_build/device}
mkdir -p "$out"
export DDLIB_CIFAR10=${DDLIB_CIFAR10:-.device/cifar10-jpeg.npz} DDLIB_CACHE=${DDLIB_CACHE:-.device/cache}
export PYTHONUNBUFFERED=1
# the repo root on the import path: the device has no editable install, and `python3 benchmarks/X.py` puts only
# benchmarks/ there (its `from ddlib import ...` failed) [issue 35]
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
    | tee "$out/evidence.log"
if python3 -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    timeout 120 python3 benchmarks/cuda_speedups.py --device cuda --out "$out/cuda_speedups.md" \
        >> "$out/evidence.log" 2>&1
fi
store=$(python3 -c "import sys; from ddlib.profile import Profile, read_yaml
print(Profile.from_dict(read_yaml(sys.argv[1])).store)" "$params") || exit 2
before=$(find "$store" -name '*.json' 2>/dev/null | wc -l)
start=$(date +%s)
# SIGINT at the deadline: the sweep stops its workers; every record written so far stays
timeout --signal=INT --kill-after=30 "$deadline" python3 -m ddlib evidence --params "$params" --progress \
    ${chapters:+--chapters "$chapters"} 2>&1 \
    | tr '\r' '\n' | grep -v '^$' >> "$out/evidence.log"
rc=${PIPESTATUS[0]}
after=$(find "$store" -name '*.json' 2>/dev/null | wc -l)
echo "exit=$rc wall_s=$(( $(date +%s) - start )) records_before=$before records_after=$after" \
    | tee -a "$out/evidence.log"
[ -d "$store" ] && tar czf "$out/runs.tgz" -C "$store" .
# what is left, at the rate the stored runs of this device measured (python -m ddlib plan)
python3 -m ddlib plan --params "$params" > "$out/plan.md" 2>> "$out/evidence.log"
[ "$rc" = 0 ] || [ "$rc" = 124 ]    # finished, or stopped at the deadline: both are progress
