"""The top frames of a folded profile (inferno-collapse-perf's `a;b;c N`
lines): by own samples (where the CPU was) and by inclusive samples (what
it was doing), each with its share of all samples.
    python3 infra/scripts/profile_top.py target/profile/webhook.folded
"""

import collections
import sys


def main(path: str, top: int = 20) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    with open(path, encoding="utf-8") as folded:
        for line in folded:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = stack.split(";")
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    print(f"{total} samples")
    for title, counter in (("own", own), ("inclusive", inclusive)):
        print(f"\ntop {top} frames by {title} samples:")
        for frame, n in counter.most_common(top):
            print(f"  {100 * n / max(total, 1):5.1f}%  {frame[:150]}")


if __name__ == "__main__":
    main(sys.argv[1])
