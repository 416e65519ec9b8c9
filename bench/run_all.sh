#!/usr/bin/env bash
# Run every benchmark (issue 5, and first_run for issue 3) with its default settings; each one's output goes to bench/out/<name>.txt.
# usage: bench/run_all.sh [--device auto|cpu|cuda]   (the arguments go to every script; all take --device)
# Run it on a quiet machine: figures are medians of repeats, but a busy neighbour still skews them.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
mkdir -p bench/out
failed=()
for script in feature_extraction fine_tune throughput ingest ui_rerun data_efficiency own_source few_shot several_sources experiments explain label_check fine_tune_study better_features familiarity; do
    echo "== $script $(date -Is)"
    "$PY" "bench/$script.py" "$@" 2>&1 | tee "bench/out/$script.txt" || failed+=("$script")
done
for which in l2sp dann; do
    echo "== transfer_methods $which $(date -Is)"
    "$PY" bench/transfer_methods.py "$which" "$@" 2>&1 | tee "bench/out/transfer_methods_$which.txt" || failed+=("transfer_methods $which")
done
# Issue 17's other sets: the upper-body garments and the doodles; the studio's default against fastai
# on every set at 5 to 40 per class (the versus_fastai run further down has every side at 10 and 40).
"$PY" bench/versus_fastai.py --sets "5,6,7,8,9;0,2,3,4,6;doodles" --sizes 5,10,20,40 \
    --sides "studio defaults,fastai frozen,fastai fine_tune" 2>&1 | tee bench/out/versus_fastai_every_size.txt \
    || failed+=("versus_fastai every size")
for which in 0,2,3,4,6 doodles; do
    for script in fine_tune_study better_features; do
        echo "== $script --classes $which $(date -Is)"
        "$PY" "bench/$script.py" --classes "$which" "$@" 2>&1 | tee "bench/out/${script}_${which//,/}.txt" || failed+=("$script $which")
    done
done
# Issue 18: one run trained by two CPU processes (gloo) against one; the CPU on purpose, whatever the machine.
echo "== distributed_cpu $(date -Is)"
"$PY" bench/distributed_cpu.py 2>&1 | tee bench/out/distributed_cpu.txt || failed+=("distributed_cpu")
# The app picks its own device, as it does for a user: these take no --device.
for script in first_run versus_fastai cost_growth ui_scale ingest_paths fine_tune_sides class_of_25; do
    echo "== $script $(date -Is)"
    "$PY" "bench/$script.py" 2>&1 | tee "bench/out/$script.txt" || failed+=("$script")
done
# Issue 29: Pillow's own test pictures through the scan. The corpus is not kept here: PILLOW_REPO names a
# clone or git mirror of python-pillow/Pillow.
if [ -n "${PILLOW_REPO:-}" ]; then
    echo "== pillow_corpus $(date -Is)"
    "$PY" bench/pillow_corpus.py "$PILLOW_REPO" 2>&1 | tee bench/out/pillow_corpus.txt || failed+=("pillow_corpus")
else
    echo "== pillow_corpus skipped: set PILLOW_REPO to a clone of python-pillow/Pillow"
fi
echo "== done $(date -Is)${failed[*]:+; failed: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
