#!/usr/bin/env bash
# The overhead benchmark (experiments.benchmark --overhead-only) of a base revision and of the
# checkout, back to back and twice, on the same machine: a refactor's cost per trial before and after.
#
#   bash experiments/compare_overhead.sh 528daf4 experiments/results/overhead_refactor
#
# Writes <out>/before<k>/overhead.md, <out>/after<k>/overhead.md and <out>/overhead_before_after.md
# (per objective and number pending, the smaller of the two rounds' milliseconds per trial).
set -euo pipefail
base=$1
out=$(realpath -m "$2")
here=$(git rev-parse --show-toplevel)
tree=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$tree"' EXIT
git -C "$here" worktree add --detach -q "$tree" "$base"
flags=(--overhead-only --searchers random,pgsearcher --overhead-pending 1,8,32,256
       --overhead-objectives mixed_bowls,mixed_categorical --overhead-trials 3000 --jobs 1)
for round in 1 2; do
  (cd "$tree" && PYTHONPATH="$tree" python -m experiments.benchmark "${flags[@]}" --out "$out/before$round") >/dev/null
  (cd "$here" && PYTHONPATH="$here" python -m experiments.benchmark "${flags[@]}" --out "$out/after$round") >/dev/null
done
python - "$out" "$base" "$(git -C "$here" rev-parse --short HEAD)" "$2" <<'PY'
import re, sys
out, base, head, given = sys.argv[1:]
def rows(path):
    found = {}
    for line in open(path):
        m = re.match(r"\| (\w+) \| pgsearcher \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", line)
        if m:
            found[(m.group(1), int(m.group(2)))] = [float(m.group(i)) for i in (3, 4, 5)]
    return found
before = [rows(f"{out}/before{r}/overhead.md") for r in (1, 2)]
after = [rows(f"{out}/after{r}/overhead.md") for r in (1, 2)]
lines = [
    f"# PGSearcher's milliseconds per trial before ({base}) and after ({head})",
    "",
    f"Command: `bash experiments/compare_overhead.sh {base} {given}`. Each cell: the smaller of two rounds"
    " (the runs alternate before / after on the same machine); 100, 1,000 and 3,000 finished trials.",
    "",
    "| objective | pending | before 100 / 1,000 / 3,000 | after 100 / 1,000 / 3,000 |",
    "|---|---|---|---|",
]
for key in sorted(before[0]):
    b = [min(before[0][key][i], before[1][key][i]) for i in range(3)]
    a = [min(after[0][key][i], after[1][key][i]) for i in range(3)]
    lines.append(f"| {key[0]} | {key[1]} | {' / '.join(f'{v:.2f}' for v in b)} | {' / '.join(f'{v:.2f}' for v in a)} |")
mean = lambda runs: sum(min(r0[k][i], r1[k][i]) for k in runs[0] for i in range(3) for r0, r1 in [runs]) / (3 * len(runs[0]))
lines += ["", f"Mean over the cells: before {mean(before):.2f} ms, after {mean(after):.2f} ms."]
open(f"{out}/overhead_before_after.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
