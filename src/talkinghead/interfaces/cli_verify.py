"""``talkinghead verify FILE...``: watermark + C2PA check of images and videos.

Exit codes (documented in ``talkinghead verify --help``):
  0  every file carries the watermark and a valid (or trusted) C2PA manifest; with --trust,
     a manifest signed by one of those roots
  1  some file lacks the watermark, or its C2PA manifest is absent, invalid or (with --trust)
     not signed by a trusted root
  2  bad input: some file is missing or is not a readable image/video, or a --trust file is not
     a PEM certificate (takes precedence)
"""
from __future__ import annotations

import argparse
import json
import sys

from talkinghead.interfaces.args import positive_int

__all__ = ["add_verify", "cmd_verify"]

_EPILOG = """exit codes:
  0  every file carries the watermark and a valid (or trusted) C2PA manifest
     (with --trust: a manifest that chains to one of those roots)
  1  some file lacks the watermark, or its C2PA manifest is absent, invalid or untrusted
  2  some file is missing or not a readable image/video, or a --trust file is not a PEM
     certificate (takes precedence over 1)

Each line starts with a verdict: VERIFIED, MARKED, CREDENTIALS MISSING|INVALID|UNTRUSTED|...
(made by talkinghead, then re-encoded or edited: the watermark survives, the manifest does not),
or NOT MARKED. Mirrored (flipped) copies read as NOT MARKED.

C2PA states: trusted (valid, chain ends in a trusted root: the local identity's or --trust),
valid (signature and hashes check out), invalid (edited or damaged), absent (no manifest),
unsupported (a format C2PA cannot carry)."""


def add_verify(subparsers) -> argparse.ArgumentParser:
    """Register the ``verify`` subcommand on an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "verify",
        help="check files for the talkinghead watermark and C2PA credentials",
        description="Report, for each image or video, whether the invisible watermark is present "
        "(with its confidence and payload) and whether its C2PA manifest is valid, invalid or absent.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="images or videos to check")
    p.add_argument("--json", dest="json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--trust", action="append", default=None, metavar="PEM",
                   help="PEM file of a root certificate to trust (repeatable; default: the local signing root)")
    p.add_argument("--max-frames", type=positive_int, default=48, help="video frames analysed per file (default 48)")
    p.set_defaults(func=cmd_verify)
    return p


def cmd_verify(a) -> int:
    from talkinghead.provenance.credentials import check_trust_files
    from talkinghead.provenance.verify import EXIT_BAD_INPUT, EXIT_NOT_VERIFIED, EXIT_OK, verify_file

    if a.trust:
        check_trust_files(a.trust)  # one-line error, exit 2
    reports = []
    for f in a.files:
        r = verify_file(f, trust=a.trust, max_frames=max(1, a.max_frames))
        reports.append(r)
        if not a.json:
            print(r.describe(), flush=True)
    codes = {r.exit_code for r in reports}
    code = EXIT_BAD_INPUT if EXIT_BAD_INPUT in codes else EXIT_NOT_VERIFIED if EXIT_NOT_VERIFIED in codes else EXIT_OK
    if len(reports) > 1 and not a.json:
        n = {v: sum(1 for r in reports if r.verdict.startswith(v)) for v in ("VERIFIED", "MARKED", "NOT MARKED", "ERROR")}
        print(f"verify: {len(reports)} files: {n['VERIFIED']} verified, {n['MARKED']} marked without valid "
              f"credentials, {n['NOT MARKED']} not marked, {n['ERROR']} unreadable")
    if a.json:
        json.dump({"ok": code == EXIT_OK, "exit_code": code, "files": [r.as_dict() for r in reports]},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    return code
