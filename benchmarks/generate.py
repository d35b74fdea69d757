"""Seeded synthetic GetDockerhubImageRiskRankInfo responses for the benchmarks.

``python benchmarks/generate.py N OUT [--seed S]`` writes a raw API body with N distinct
ranked images, shaped like the API reference's example: every ``RiskLevelDetail`` is a JSON
string with all 46 counters plus ``uuid``, keys sorted as the service sends them.
The data is made to be awkward in the ways real rankings are: images spread over many
namespaces, a fifth of them ranked in both ``VulAsap`` and ``Baseline`` (the same image
twice), names with surrounding whitespace, and a few tags that contain ``:``.

Two profiles. ``typical`` (the default): about one image in seven breaks a rule of the
benchmark policy, so reports have both failures to list and many passes to summarise.
``failing``: a risk ranking as real accounts see it, where most images break several rules
(about 2 in 5 have ``imageVulAsap > 0``, half have ``imageVulLater > 100``, a quarter have
``imageVulNntf >= 300``).

The body is written compactly, as it travels over HTTP (the smallest file for its content,
so the strictest base for the memory target).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

#: Every counter of the reference example's RiskLevelDetail (plus its "uuid" string).
COUNTERS = (
    "account",
    "agentlessAll",
    "agentlessBaseline",
    "agentlessMalicious",
    "agentlessSensitiveFile",
    "agentlessVulCve",
    "agentlessVulSca",
    "agentlessVulSys",
    "appNum",
    "asapVulCount",
    "baselineHigh",
    "baselineLow",
    "baselineMedium",
    "baselineNum",
    "cmsNum",
    "containerAsap",
    "containerLater",
    "containerNntf",
    "containerRemind",
    "containerSerious",
    "containerSuspicious",
    "cveNum",
    "emgNum",
    "health",
    "imageBaselineHigh",
    "imageBaselineLow",
    "imageBaselineMedium",
    "imageBaselineNum",
    "imageMaliciousFileRemind",
    "imageMaliciousFileSerious",
    "imageMaliciousFileSuspicious",
    "imageVulAsap",
    "imageVulLater",
    "imageVulNntf",
    "laterVulCount",
    "newSuspicious",
    "nntfVulCount",
    "remindNum",
    "scaNum",
    "seriousNum",
    "suspNum",
    "suspicious",
    "sysNum",
    "trojan",
    "vul",
    "weakPWNum",
)

_TEAMS = ("payments", "web", "search", "identity", "billing", "data", "ml", "infra", "mobile")
_STAGES = ("prod", "staging", "dev", "qa")
_REPOS = ("api", "worker", "gateway", "frontend", "scheduler", "db-migrate", "cache", "auth")
_BASES = ("ubuntu", "alpine", "debian", "distroless")


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _rare(rng: random.Random, chance: float, high: int) -> int:
    return rng.randint(1, high) if rng.random() < chance else 0


PROFILES = ("typical", "failing")


def _detail(rng: random.Random, uuid: str, profile: str = "typical") -> dict[str, Any]:
    d: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    if profile == "failing":
        d["imageVulAsap"] = _rare(rng, 0.4, 40)
        d["imageVulLater"] = rng.randint(101, 900) if rng.random() < 0.5 else rng.randint(0, 100)
        d["imageVulNntf"] = rng.randint(300, 3000) if rng.random() < 0.25 else rng.randint(0, 299)
    else:
        d["imageVulAsap"] = _rare(rng, 0.05, 12)
        d["imageVulLater"] = rng.randint(0, 48) if rng.random() < 0.96 else rng.randint(0, 400)
        d["imageVulNntf"] = rng.randint(0, 480) if rng.random() < 0.97 else rng.randint(0, 2000)
    d["imageBaselineHigh"] = _rare(rng, 0.02, 4)
    d["imageBaselineMedium"] = rng.randint(0, 20) if rng.random() < 0.99 else rng.randint(0, 60)
    d["imageBaselineLow"] = rng.randint(0, 30)
    d["imageMaliciousFileSerious"] = _rare(rng, 0.003, 2)
    d["imageMaliciousFileSuspicious"] = _rare(rng, 0.005, 3)
    d["imageMaliciousFileRemind"] = _rare(rng, 0.02, 5)
    d["containerAsap"] = _rare(rng, 0.004, 3)
    d["containerLater"] = _rare(rng, 0.05, 20)
    d["containerSerious"] = _rare(rng, 0.002, 2)
    d["containerSuspicious"] = _rare(rng, 0.002, 2)
    d["agentlessMalicious"] = _rare(rng, 0.002, 2)
    d["agentlessSensitiveFile"] = rng.randint(0, 5) if rng.random() < 0.998 else 9
    d["imageBaselineNum"] = (
        d["imageBaselineHigh"] + d["imageBaselineMedium"] + d["imageBaselineLow"]
    )
    d["vul"] = d["cveNum"] = d["imageVulAsap"] + d["imageVulLater"] + d["imageVulNntf"]
    d["uuid"] = uuid
    return dict(sorted(d.items()))


def _image(rng: random.Random, index: int, profile: str = "typical") -> dict[str, Any]:
    stage = rng.choices(_STAGES, weights=(4, 2, 3, 1))[0]
    namespace = f"{stage}-{rng.choice(_TEAMS)}"
    repository = f"{rng.choice(_REPOS)}-{index % 997}"
    tag = f"{rng.randint(0, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 99)}"
    roll = rng.random()
    if roll < 0.005:
        tag = f"app:{tag}-{rng.choice(_BASES)}"  # the reference's own tags contain ':'
    elif roll < 0.015:
        namespace += "\n"  # as in the reference example
    elif roll < 0.02:
        repository = f"  {repository} "
    uuid = f"{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}"
    detail = _detail(rng, _hex(rng, 32), profile)
    return {
        "Uuid": uuid,
        "ImageSize": rng.randint(5, 2000) * 1024 * 1024,
        "Digest": _hex(rng, 64),
        "HcCount": detail["imageBaselineNum"],
        "Tag": tag,
        "VulCount": detail["vul"],
        "ImageId": _hex(rng, 64),
        "RepoName": repository,
        "RepoNamespace": namespace,
        "RiskLevelDetail": json.dumps(detail, separators=(",", ":")),
    }


def _lists(count: int, seed: int) -> tuple[list[int], list[int]]:
    """Which images each list ranks: 55 % only VulAsap, 25 % only Baseline, 20 % both."""
    rng = random.Random(seed ^ 0x5EED)
    vul_asap: list[int] = []
    baseline: list[int] = []
    for index in range(count):
        roll = rng.random()
        if roll < 0.75:
            vul_asap.append(index)
        if roll >= 0.55:
            baseline.append(index)
    rng.shuffle(baseline)
    return vul_asap, baseline


def _entries(count: int, seed: int, profile: str) -> Iterator[tuple[int, str]]:
    """(image index, its compact JSON), in index order; the same text for both lists."""
    rng = random.Random(seed)
    for index in range(count):
        image = _image(rng, index, profile)
        yield index, json.dumps(image, separators=(",", ":"), ensure_ascii=False)


def write(count: int, out: TextIO, seed: int = 1, profile: str = "typical") -> None:
    """Write a response body with ``count`` distinct images of ``profile`` to ``out``."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    vul_asap, baseline = _lists(count, seed)
    in_baseline = set(baseline)
    out.write(f'{{"RequestId":"BENCH-{seed:04d}-{count}","RiskRankInfo":{{"VulAsap":[')
    # VulAsap streams straight through; entries also in Baseline wait for that list.
    kept: dict[int, str] = {}
    in_vul_asap = set(vul_asap)
    first = True
    for index, text in _entries(count, seed, profile):
        if index in in_baseline:
            kept[index] = text
        if index in in_vul_asap:
            out.write(text if first else "," + text)
            first = False
    out.write('],"Baseline":[')
    out.write(",".join(kept[index] for index in baseline))
    out.write("]}}\n")


def generate(count: int, path: Path, seed: int = 1, profile: str = "typical") -> Path:
    """Write the snapshot to ``path`` (parents created) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        write(count, handle, seed, profile)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, help="number of distinct images")
    parser.add_argument("out", help="file to write ('-' for stdout)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile", choices=PROFILES, default="typical", help="share of images that fail"
    )
    args = parser.parse_args(argv)
    if args.out == "-":
        write(args.count, sys.stdout, args.seed, args.profile)
    else:
        generate(args.count, Path(args.out), args.seed, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
