"""Build the emoji training data from the npm packages emoji-datasource-{google,twitter}@16.0.0.

    /usr/bin/python3 weights-tools/prepare_data.py [--sizes 16 32] [--gallery]

- Fetches the package tarballs with `npm pack` into weights-tools/data/ when they are not there
  (Google: Noto Emoji images, Apache-2.0; Twitter: Twemoji images, CC-BY-4.0; package code MIT).
- Cuts the 64-px "clean" sprite sheets (cell (x, y) at (x*66+1, y*66+1)), composites RGBA onto white,
  and resizes to each size with PIL's BILINEAR, exactly what the TypeScript processor does at inference.
- Skin-tone variants are all kept but weighed down: each image gets a sampling `weight`; the base image
  weighs 1 and an emoji's skin-tone variants share a weight of 1 between them, so People & Body is about
  a third of what training draws (without the weights it would be 60 %: 2,261 of 3,786 images per vendor).
  One variant per emoji and vendor (chosen with the split seed, a different draw per vendor) is the
  "chosen" one; held-out emoji keep only that one, so the held-out set is the same 446 images every
  shipped model was measured on. The others are marked `extra_variant` (training only).
- `flip`: whether a horizontal mirror is still a plausible emoji (training may flip those): not symbols,
  flags, keycaps, clocks, money or anything else carrying text or digits (see FLIP_EXCLUDED).
- Held-out split: ~10 % of emoji names (short_name), drawn per category so every category is
  represented, fixed seed; both vendors and all variants of an emoji fall on the same side. The split is
  read from weights-tools/split.json when it exists (committed), else drawn and written there.
- Writes weights-tools/data/emoji-<size>/images.u8 (N x size x size x 3, RGB uint8, row-major) and
  index.json (one {name, unified, vendor, category, subcategory, split, variant, extra_variant, weight, flip}
  per image, same order).
- --fluent adds Microsoft's Fluent Emoji (flat style, MIT) from the npm package
  @iconify-json/fluent-emoji-flat@1.2.6: SVGs rendered at 64 px by `rsvg-convert` (Debian librsvg2-bin; an
  unpacked copy in weights-tools/.cache/rsvg/ works), composited onto white. They are joined to emoji.json by
  code point, so they carry its names, categories and split; Fluent images of held-out names are left out
  altogether (the held-out set stays the same 446 images), and its skin-tone variants share a weight of 1
  (all marked extra_variant). Vendor "fluent" in index.json.
- --gallery writes demo/public/gallery/: ~40 held-out emoji as 64-px PNGs on white, gallery.json, NOTICE.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import io
import shutil
import subprocess
import tarfile
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SPLIT_PATH = os.path.join(HERE, "split.json")
GALLERY = os.path.join(HERE, "..", "demo", "public", "gallery")
VERSION = "16.0.0"
VENDORS = ("google", "twitter")
CELL = 64
SEED = 20261126
HELD_OUT_FRACTION = 0.10


def package_dir(vendor: str) -> str:
    """Unpack emoji-datasource-<vendor> (fetching it with npm when needed); return its folder."""
    folder = os.path.join(DATA, vendor)
    sheet = os.path.join(folder, "img", vendor, "sheets-clean", f"{CELL}.png")
    if os.path.exists(sheet) and os.path.exists(os.path.join(folder, "emoji.json")):
        return folder
    os.makedirs(DATA, exist_ok=True)
    tarball = os.path.join(DATA, f"emoji-datasource-{vendor}-{VERSION}.tgz")
    if not os.path.exists(tarball):
        print(f"fetching emoji-datasource-{vendor}@{VERSION} with npm pack")
        subprocess.run(["npm", "pack", f"emoji-datasource-{vendor}@{VERSION}", "--silent"], cwd=DATA, check=True)
    wanted = {"package/emoji.json", "package/LICENSE", f"package/img/{vendor}/sheets-clean/{CELL}.png"}
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            if member.name in wanted:
                member.name = member.name[len("package/"):]
                tar.extract(member, folder)
    if not os.path.exists(sheet):
        raise FileNotFoundError(f"{tarball} has no img/{vendor}/sheets-clean/{CELL}.png")
    return folder


def load_split(emoji: List[dict]) -> Dict[str, str]:
    """name -> 'train' | 'heldout'. Reads split.json, or draws it (per category, fixed seed) and writes it."""
    names_by_category: Dict[str, List[str]] = {}
    for e in emoji:
        names_by_category.setdefault(e["category"], []).append(e["short_name"])
    if os.path.exists(SPLIT_PATH):
        with open(SPLIT_PATH) as f:
            held = set(json.load(f)["heldout"])
    else:
        rng = random.Random(SEED)
        held = set()
        for category in sorted(names_by_category):
            names = sorted(names_by_category[category])
            held.update(rng.sample(names, round(len(names) * HELD_OUT_FRACTION)))
        with open(SPLIT_PATH, "w") as f:
            json.dump(
                {
                    "description": "Held-out emoji (by short_name) never used for training: ~10% per category, "
                    "all vendors and skin-tone variants of a name on the same side.",
                    "source": f"emoji-datasource-google@{VERSION}, emoji-datasource-twitter@{VERSION}",
                    "seed": SEED,
                    "heldout": sorted(held),
                },
                f,
                indent=1,
            )
            f.write("\n")
    unknown = held - {e["short_name"] for e in emoji}
    if unknown:
        raise ValueError(f"split.json names {len(unknown)} emoji not in emoji.json, e.g. {sorted(unknown)[:3]}")
    return {e["short_name"]: ("heldout" if e["short_name"] in held else "train") for e in emoji}


# Categories and subcategories whose images read wrong mirrored: text, digits, flags, clocks, currency signs,
# arrows and other symbols with a direction or a meaning tied to their orientation.
FLIP_EXCLUDED_CATEGORIES = {"Symbols", "Flags", "Component"}
FLIP_EXCLUDED_SUBCATEGORIES = {"time", "money", "book-paper", "office", "mail", "writing", "music", "sky & weather",
                               "place-map"}
FLIP_EXCLUDED_NAMES = {"100", "zzz", "speech_balloon", "left_speech_bubble", "right_anger_bubble", "thought_balloon"}


def can_flip(e: dict) -> bool:
    return (e["category"] not in FLIP_EXCLUDED_CATEGORIES and e["subcategory"] not in FLIP_EXCLUDED_SUBCATEGORIES
            and e["short_name"] not in FLIP_EXCLUDED_NAMES)


def cells(emoji: List[dict], vendor: str, split: Dict[str, str]) -> List[Tuple[dict, str, bool, float, str, int, int]]:
    """(entry, variant key or '', extra_variant, weight, unified, sheet_x, sheet_y) for every image kept.

    The base image weighs 1; the skin-tone variants share a weight of 1. The chosen variant is drawn exactly
    as before variants were all kept (same rng, same order), so the held-out set does not change.
    """
    rng = random.Random(f"{SEED}-{vendor}")
    out = []
    for e in emoji:
        if e.get(f"has_img_{vendor}"):
            out.append((e, "", False, 1.0, e["unified"], e["sheet_x"], e["sheet_y"]))
        variants = [(k, v) for k, v in sorted((e.get("skin_variations") or {}).items()) if v.get(f"has_img_{vendor}")]
        if variants:
            chosen, cv = rng.choice(variants)
            if split[e["short_name"]] == "heldout":
                out.append((e, chosen, False, 1.0, cv["unified"], cv["sheet_x"], cv["sheet_y"]))
                continue
            share = 1.0 / len(variants)
            for key, v in variants:
                out.append((e, key, key != chosen, share, v["unified"], v["sheet_x"], v["sheet_y"]))
    return out


def cut_on_white(sheet: Image.Image, x: int, y: int) -> Image.Image:
    """The 64-px RGBA cell at sheet position (x, y), composited onto white, as RGB."""
    left, top = x * (CELL + 2) + 1, y * (CELL + 2) + 1
    cell = sheet.crop((left, top, left + CELL, top + CELL))
    white = Image.new("RGBA", cell.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, cell).convert("RGB")


FLUENT_PACKAGE, FLUENT_VERSION = "@iconify-json/fluent-emoji-flat", "1.2.6"


def rsvg_convert() -> str:
    local = os.path.join(HERE, ".cache", "rsvg", "root", "usr", "bin", "rsvg-convert")
    found = os.environ.get("RSVG_CONVERT") or shutil.which("rsvg-convert") or (local if os.path.exists(local) else None)
    if not found:
        raise FileNotFoundError(
            "--fluent needs rsvg-convert to render SVGs: apt-get install librsvg2-bin, or unpack it with "
            f"apt-get download librsvg2-bin && dpkg -x librsvg2-bin_*.deb {os.path.dirname(os.path.dirname(os.path.dirname(local)))}"
        )
    return found


def fluent_icons() -> Tuple[Dict[str, str], Dict[str, dict], int]:
    """(code point key -> icon name, icon name -> {body}, view box side) from the unpacked npm package."""
    folder = os.path.join(DATA, "fluent-flat")
    if not os.path.exists(os.path.join(folder, "icons.json")):
        os.makedirs(folder, exist_ok=True)
        tarball = os.path.join(DATA, f"iconify-json-fluent-emoji-flat-{FLUENT_VERSION}.tgz")
        if not os.path.exists(tarball):
            print(f"fetching {FLUENT_PACKAGE}@{FLUENT_VERSION} with npm pack")
            subprocess.run(["npm", "pack", f"{FLUENT_PACKAGE}@{FLUENT_VERSION}", "--silent"], cwd=DATA, check=True)
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                if member.name in ("package/icons.json", "package/chars.json", "package/LICENSE"):
                    member.name = member.name[len("package/"):]
                    tar.extract(member, folder)
    with open(os.path.join(folder, "chars.json")) as f:
        chars = json.load(f)
    with open(os.path.join(folder, "icons.json")) as f:
        icons = json.load(f)
    return chars, icons["icons"], int(icons.get("width", 16))


def render_svg(rsvg: str, body: str, view: int) -> Image.Image:
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{CELL}" height="{CELL}" '
           f'viewBox="0 0 {view} {view}">{body}</svg>')
    png = subprocess.run([rsvg, "-w", str(CELL), "-h", str(CELL)], input=svg.encode(), capture_output=True,
                         check=True).stdout
    rgba = Image.open(io.BytesIO(png)).convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")


def fluent_images(emoji: List[dict], split: Dict[str, str]) -> Tuple[List[dict], List[Image.Image]]:
    """Fluent Emoji for the training names that it draws: base weight 1, skin-tone variants sharing 1."""
    rsvg = rsvg_convert()
    chars, icons, view = fluent_icons()

    def icon(unified: str):
        name = chars.get(unified.lower())
        return icons.get(name) if name else None

    records, images = [], []
    for e in emoji:
        if split[e["short_name"]] != "train":
            continue
        found = [("", False, 1.0, e["unified"], icon(e["unified"]))]
        variants = [(k, v["unified"]) for k, v in sorted((e.get("skin_variations") or {}).items()) if icon(v["unified"])]
        found += [(k, True, 1.0 / len(variants), u, icon(u)) for k, u in variants]
        for variant, extra, weight, unified, ic in found:
            if ic is None:
                continue
            records.append(dict(name=e["short_name"], unified=unified, vendor="fluent", category=e["category"],
                                subcategory=e["subcategory"], split="train", variant=variant, extra_variant=extra,
                                weight=weight, flip=can_flip(e)))
            images.append(render_svg(rsvg, ic["body"], view))
    return records, images


def build(sizes: List[int], gallery: bool, fluent: bool = False) -> None:
    records: List[dict] = []
    images64: List[Image.Image] = []
    for vendor in VENDORS:
        folder = package_dir(vendor)
        with open(os.path.join(folder, "emoji.json")) as f:
            emoji = sorted(json.load(f), key=lambda e: e["sort_order"])
        split = load_split(emoji)
        sheet = Image.open(os.path.join(folder, "img", vendor, "sheets-clean", f"{CELL}.png")).convert("RGBA")
        for e, variant, extra, weight, unified, x, y in cells(emoji, vendor, split):
            records.append(
                dict(name=e["short_name"], unified=unified, vendor=vendor, category=e["category"],
                     subcategory=e["subcategory"], split=split[e["short_name"]], variant=variant,
                     extra_variant=extra, weight=weight, flip=can_flip(e))
            )
            images64.append(cut_on_white(sheet, x, y))
    if fluent:
        fluent_records, fluent64 = fluent_images(emoji, split)
        records += fluent_records
        images64 += fluent64
    for size in sizes:
        out = os.path.join(DATA, f"emoji-{size}")
        os.makedirs(out, exist_ok=True)
        pixels = np.stack([np.asarray(im.resize((size, size), Image.BILINEAR)) for im in images64])
        pixels.astype(np.uint8).tofile(os.path.join(out, "images.u8"))
        with open(os.path.join(out, "index.json"), "w") as f:
            json.dump(records, f)
        n_held = sum(r["split"] == "heldout" for r in records)
        print(f"{out}: {len(records)} images ({n_held} held out), {size}x{size}x3 uint8")
    counts: Dict[str, int] = {}
    for r in records:
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    print("images per category:", json.dumps(counts))
    if gallery:
        write_gallery(records, images64)


def write_gallery(records: List[dict], images64: List[Image.Image], count: int = 40) -> None:
    """~40 held-out base emoji, round-robin over categories, alternating vendors."""
    os.makedirs(GALLERY, exist_ok=True)
    rng = random.Random(SEED + 1)
    by_category: Dict[str, List[int]] = {}
    for i, r in enumerate(records):
        if r["split"] == "heldout" and r["variant"] == "" and r["category"] != "Component":
            by_category.setdefault(r["category"], []).append(i)
    for items in by_category.values():
        rng.shuffle(items)
    chosen: List[int] = []
    used = set()
    turn = 0
    while len(chosen) < count and any(by_category.values()):
        for category in sorted(by_category):
            want_vendor = VENDORS[turn % 2]
            items = by_category[category]
            pick = next((i for i in items if records[i]["vendor"] == want_vendor and records[i]["name"] not in used), None)
            if pick is None:
                pick = next((i for i in items if records[i]["name"] not in used), None)
            if pick is not None:
                chosen.append(pick)
                used.add(records[pick]["name"])
            by_category[category] = [i for i in items if records[i]["name"] not in used]
            turn += 1
            if len(chosen) == count:
                break
    entries = []
    for i in chosen:
        r = records[i]
        file = f"{r['vendor']}-{r['unified'].lower()}.png"
        images64[i].save(os.path.join(GALLERY, file), optimize=True)
        entries.append(dict(file=file, name=r["name"], vendor=r["vendor"], category=r["category"]))
    with open(os.path.join(GALLERY, "gallery.json"), "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")
    with open(os.path.join(GALLERY, "NOTICE.md"), "w") as f:
        f.write(NOTICE)
    print(f"{GALLERY}: {len(entries)} images")


NOTICE = f"""# Gallery images: sources and licenses

These 64×64 PNGs are emoji held out from training the shipped models (see `weights-tools/split.json`),
cut from the "clean" 64-px sprite sheets of the npm packages `emoji-datasource-google@{VERSION}` and
`emoji-datasource-twitter@{VERSION}` (by iamcal; package code MIT) and composited onto white.
Each file name starts with its vendor.

- `google-*.png`: **Noto Emoji** by Google, licensed under the Apache License 2.0
  (https://github.com/googlefonts/noto-emoji, https://www.apache.org/licenses/LICENSE-2.0).
  Modified: composited onto a white background.
- `twitter-*.png`: **Twemoji** by Twitter, Inc. and other contributors, licensed under CC-BY 4.0
  (https://github.com/twitter/twemoji, https://creativecommons.org/licenses/by/4.0/).
  Modified: composited onto a white background.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--gallery", action="store_true", help="also write demo/public/gallery/")
    parser.add_argument("--fluent", action="store_true", help="also Microsoft's Fluent Emoji (flat), training names only")
    args = parser.parse_args()
    build(args.sizes, args.gallery, args.fluent)


if __name__ == "__main__":
    main()
