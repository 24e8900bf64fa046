#!/usr/bin/env bash
# The package as a user gets it: build the wheel, install it with every extra into a fresh venv outside the
# repository, and from a directory outside the repository run `visionzoo list`, `visionzoo info swin_unetr_brats`
# and a one-epoch `visionzoo train swin_unetr_brats_synthetic` (its config resolved by name from the wheel's
# packaged configs; it generates its synthetic BraTS cases). torch comes from this machine's disk through
# constraints.txt. Takes about 3-4 minutes on 2 cores, most of it installing torch into the fresh venv.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PY:-$REPO/.venv/bin/python}
WORK=$(mktemp -d /tmp/visionzoo_wheel_check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SECONDS=0
step() { echo "[wheel-check ${SECONDS}s] $*"; }

# Build from a clean copy of the source (tracked and new, not ignored files), so no stale build/ output leaks in.
step "building the wheel"
mkdir -p "$WORK/src"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && cp --parents -- "$f" "$WORK/src/"
done
"$PY" -m pip wheel --no-deps --quiet -w "$WORK/dist" "$WORK/src"
WHEEL=$(ls "$WORK"/dist/visionzoo-*.whl)
step "built $(basename "$WHEEL")"

step "installing it with [all] into a fresh venv"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet -c "$REPO/constraints.txt" "${WHEEL}[all]"
opencv=$("$WORK/venv/bin/python" -m pip list --format=freeze 2>/dev/null | grep -ci '^opencv' || true)
[ "$opencv" = 1 ] || { echo "expected one OpenCV wheel with [all], found $opencv" >&2; exit 1; }

mkdir "$WORK/run"
cd "$WORK/run"
unset PYTHONPATH
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2}
VZ="$WORK/venv/bin/visionzoo"
where=$("$WORK/venv/bin/python" -c "import visionzoo, pathlib; print(pathlib.Path(visionzoo.__file__).parent)")
case "$where" in "$WORK/venv/"*) ;; *) echo "visionzoo imported from $where, not the fresh venv" >&2; exit 1 ;; esac

step "visionzoo list"
"$VZ" list > models.txt
grep -qx swin_unetr_brats models.txt
echo "  $(wc -l < models.txt) models"
step "visionzoo info swin_unetr_brats"
"$VZ" info swin_unetr_brats | tee info.txt
grep -q "card:.*$WORK/venv/.*/visionzoo/_model_cards/swin_unetr.md" info.txt
step "visionzoo train swin_unetr_brats_synthetic (one epoch)"
"$VZ" train swin_unetr_brats_synthetic --work-dir wd \
    --cfg-options train_cfg.max_epochs=1 train_cfg.val_interval=1 > train.log 2>&1 || { tail -40 train.log; exit 1; }
test -f wd/latest.pth
grep "Epoch(val)" train.log | tail -1
step "wheel check passed"
