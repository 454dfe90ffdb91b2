#!/usr/bin/env bash
# Device check of `fleetplan measure` on a real GPU: measure the card against its catalog spec,
# use the written file with `perf`, and give the wrong catalog GPU on purpose (it must be refused).
#
#   GPU=h200 WRONG=h100 OUT=/tmp/measure bash benchmarks/device/measure_check.sh
#
# Needs torch with the GPU's build. fleetplan runs from this checkout (PYTHONPATH=src); where
# its core dependencies are missing on the GPU machine (no network there), WHEELS names a folder
# of wheels fetched beforehand for that machine's Python, e.g.
#   pip download -d wheels --only-binary=:all: --platform manylinux2014_x86_64 \
#     --python-version 312 pydantic click tabulate pyyaml numpy
# and they are installed into $OUT/site. Prints the JSON, the written file and the perf lines
# that moved; writes them under $OUT.
set -u
GPU=${GPU:-h200}
WRONG=${WRONG:-h100}
OUT=${OUT:-/tmp/measure}
mkdir -p "$OUT"
export PYTHONPATH="src:$OUT/site${PYTHONPATH:+:$PYTHONPATH}"
missing=""
for mod in numpy pydantic click tabulate yaml; do
  python3 -c "import $mod" 2>/dev/null || missing="$missing $mod"
done
if [ -n "$missing" ]; then
  echo "missing:$missing"
  if [ -z "${WHEELS:-}" ]; then echo "set WHEELS to a folder of wheels for them"; exit 2; fi
  python3 -m pip install -q --no-index --find-links "$WHEELS" -t "$OUT/site" \
    $(echo "$missing" | sed 's/yaml/pyyaml/') pydantic || exit 2
fi
python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name())" \
  2>/dev/null || { echo "needs torch with the GPU's build and the GPU"; exit 2; }
python3 -m fleetplan measure --gpu "$GPU" --out "$OUT/$GPU.toml" --json > "$OUT/measure.json"
echo "measure rc=$?"
cat "$OUT/measure.json" "$OUT/$GPU.toml"
python3 -m fleetplan perf llama-3.1-8b --gpu "$GPU" --explain > "$OUT/perf_packaged.txt" 2>&1
python3 -m fleetplan perf llama-3.1-8b --gpu "$GPU" --catalog "$OUT/$GPU.toml" --explain \
  > "$OUT/perf_measured.txt" 2>&1
echo "perf rc=$?"
diff "$OUT/perf_packaged.txt" "$OUT/perf_measured.txt" | head -40
python3 -m fleetplan measure --gpu "$WRONG" --out "$OUT/wrong.toml"
echo "wrong-GPU rc=$? (2 expected: refused in one line)"
