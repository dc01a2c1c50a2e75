"""Write held-out emoji as PNG folders for `npm run train` (README, "Fine-tuning": the emoji-16 measurement).

    /usr/bin/python3 weights-tools/heldout_pngs.py --size 16 --out /tmp/ft \
        anchor aries cry family_adult_adult_child female-office-worker female_fairy file_folder house_with_garden \
        middle_finger oden shallow_pan_of_food woman_kneeling_facing_right

Reads weights-tools/data/emoji-<size>/ (prepare_data.py makes it: pixels already on white and resized) and writes
every held-out image of the named emoji (both vendors, every variant) to <out>/picked/, and every other held-out image
to <out>/rest/, as <size>x<size> RGB PNGs named <index>-<vendor>-<name>.png. Names that are not held out are refused.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from PIL import Image


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("names", nargs="+", help="held-out emoji short names to put in <out>/picked")
    args = parser.parse_args(argv)

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", f"emoji-{args.size}")
    with open(os.path.join(root, "index.json")) as f:
        index = json.load(f)
    pixels = np.fromfile(os.path.join(root, "images.u8"), dtype=np.uint8).reshape(len(index), args.size, args.size, 3)
    heldout = [i for i, r in enumerate(index) if r["split"] == "heldout"]
    heldout_names = {index[i]["name"] for i in heldout}
    unknown = sorted(set(args.names) - heldout_names)
    if unknown:
        parser.error(f"not held-out emoji names: {', '.join(unknown)}")
    counts = {"picked": 0, "rest": 0}
    for folder in counts:
        os.makedirs(os.path.join(args.out, folder), exist_ok=True)
    for i in heldout:
        r = index[i]
        folder = "picked" if r["name"] in args.names else "rest"
        Image.fromarray(pixels[i]).save(os.path.join(args.out, folder, f"{i:05d}-{r['vendor']}-{r['name']}.png"))
        counts[folder] += 1
    print(f"{args.out}/picked: {counts['picked']} images, {args.out}/rest: {counts['rest']} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
