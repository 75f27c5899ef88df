"""Pick a refiner's checkpoint step, ``output_scale`` and ``shrink`` from leave-clips-out validation.

    python -m talkinghead.train.refiner_select VAL.json [VAL.json ...]

Each file is a :mod:`talkinghead.train.refiner_val` result (``--json``) of one checkpoint of the
validation clone (folder names ending in ``step-NNNNNNN/refiner``). Rule (fixed before the
validation results were seen): keep the candidates whose mean SSIM is above the warp's and whose L1
is below the warp's on every validation clip; pick the lowest mean per-clip L1 ratio. If none is
better on every clip, the lowest mean per-clip L1 ratio among those with mean ratio < 1 and SSIM
gain > 0. With ``--akd`` (files from ``refiner_val --akd``) a candidate must also keep the validation AKD no
worse than the warp's (candidates scored without AKD drop out). Prints the table and the pick (None: keep the warp).
"""
from __future__ import annotations

import json
import re
import sys


def select(results: list[dict], require_akd: bool = False) -> tuple[dict | None, list[dict]]:
    rows = []
    for res in results:
        for rd, variants in res["refiners"].items():
            m = re.search(r"step-(\d+)", rd)
            step = int(m.group(1)) if m else -1
            for name, r in variants.items():
                a, t = (float(x) for x in re.fullmatch(r"a([\d.e-]+)_t([\d.e-]+)", name).groups())
                rows.append({"refiner": rd, "step": step, "alpha": a, "tau": t, **r,
                             "all_better": all(x < 1 for x in r["l1_ratio_per_clip"])})
    if require_akd:
        rows = [r for r in rows if r.get("akd_gain", float("inf")) <= 0]
    ok = [r for r in rows if r["ssim_gain"] > 0 and r["all_better"]]
    if not ok:
        ok = [r for r in rows if r["ssim_gain"] > 0 and r["l1_ratio_mean"] < 1]
    pick = min(ok, key=lambda r: r["l1_ratio_mean"]) if ok else None
    return pick, rows


def main(argv=None) -> int:
    files = list(argv if argv is not None else sys.argv[1:])
    require_akd = "--akd" in files
    files = [f for f in files if f != "--akd"]
    pick, rows = select([json.load(open(f)) for f in files], require_akd)
    print("step  alpha  tau     L1/warp(per-clip mean)  all6  SSIM gain   PSNR gain")
    for r in sorted(rows, key=lambda r: r["l1_ratio_mean"]):
        print(f"{r['step']:5d} {r['alpha']:5.2f} {r['tau']:6.3f}   {r['l1_ratio_mean']:.4f}                 "
              f"{'yes' if r['all_better'] else 'no ':4s} {r['ssim_gain']:+.5f}   {r['psnr_gain']:+.3f}")
    print("pick:", None if pick is None else {k: pick[k] for k in ("refiner", "step", "alpha", "tau", "l1_ratio_mean", "ssim_gain")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
