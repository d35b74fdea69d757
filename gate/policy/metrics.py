"""The metric catalogue: every name a ``fail_if`` expression may use, with its meaning.

Counters come from the ``RiskLevelDetail`` JSON string of each ranked image; ``VulCount``,
``HcCount`` and ``ImageSize`` are numeric fields of the image itself. asap/later/nntf are
Security Center's high/medium/low fix priorities.
"""

from __future__ import annotations

import difflib
import re

#: Numeric fields of the image object (not inside ``RiskLevelDetail``).
IMAGE_FIELDS: dict[str, str] = {
    "VulCount": "number of vulnerabilities reported on the image record",
    "HcCount": "number of baseline (health check) risks on the image record",
    "ImageSize": "image size in bytes",
}

#: Counters inside ``RiskLevelDetail``.
DETAIL_COUNTERS: dict[str, str] = {
    "imageVulAsap": "image vulnerabilities to fix as soon as possible (high priority)",
    "imageVulLater": "image vulnerabilities to fix later (medium priority)",
    "imageVulNntf": "image vulnerabilities that need not be fixed now (low priority)",
    "imageBaselineHigh": "high-risk baseline (configuration) findings in the image",
    "imageBaselineMedium": "medium-risk baseline findings in the image",
    "imageBaselineLow": "low-risk baseline findings in the image",
    "imageBaselineNum": "all baseline findings in the image",
    "imageMaliciousFileSerious": "serious malicious files in the image",
    "imageMaliciousFileSuspicious": "suspicious malicious files in the image",
    "imageMaliciousFileRemind": "malicious-file findings at reminder level",
    "containerAsap": "vulnerabilities to fix as soon as possible in running containers",
    "containerLater": "vulnerabilities to fix later in running containers",
    "containerNntf": "low-priority vulnerabilities in running containers",
    "containerSerious": "serious alerts in running containers",
    "containerSuspicious": "suspicious alerts in running containers",
    "containerRemind": "reminder-level alerts in running containers",
    "asapVulCount": "host vulnerabilities to fix as soon as possible",
    "laterVulCount": "host vulnerabilities to fix later",
    "nntfVulCount": "host vulnerabilities that need not be fixed now",
    "vul": "all vulnerabilities",
    "cveNum": "CVE (system) vulnerabilities",
    "sysNum": "system vulnerabilities",
    "appNum": "application vulnerabilities",
    "scaNum": "software composition analysis findings",
    "emgNum": "emergency vulnerabilities",
    "cmsNum": "web CMS vulnerabilities",
    "baselineHigh": "high-risk baseline findings",
    "baselineMedium": "medium-risk baseline findings",
    "baselineLow": "low-risk baseline findings",
    "baselineNum": "all baseline findings",
    "seriousNum": "serious security alerts",
    "suspNum": "suspicious security alerts",
    "remindNum": "reminder-level security alerts",
    "suspicious": "suspicious events",
    "newSuspicious": "new suspicious events",
    "trojan": "trojans (web shells, malware)",
    "weakPWNum": "weak passwords",
    "account": "risky accounts",
    "health": "health-check findings",
    "agentlessAll": "all agentless scan findings",
    "agentlessBaseline": "agentless baseline findings",
    "agentlessMalicious": "agentless malicious-file findings",
    "agentlessSensitiveFile": "agentless sensitive-file findings",
    "agentlessVulCve": "agentless CVE vulnerabilities",
    "agentlessVulSca": "agentless software composition findings",
    "agentlessVulSys": "agentless system vulnerabilities",
}

CATALOGUE: dict[str, str] = {**DETAIL_COUNTERS, **IMAGE_FIELDS}

#: Counted from the image's vulnerability records (DescribeImageVulList), fetched only for
#: images a rule using them applies to. Open records only (Security Center's Status 7,
#: fixed, is left out).
RECORD_METRICS: dict[str, str] = {
    "fixableVulAsap": "urgent (asap) vulnerability records with a fix: Security Center can "
    "fix it (CanFix) or names a fix command or fixed version",
    "fixableVulLater": "medium-priority (later) vulnerability records with a fix",
    "fixableVulNntf": "low-priority (nntf) vulnerability records with a fix",
}
#: ``vulAsapOlderThan30d``: records of that priority first seen more than N days (1 to
#: 3650) before the evaluation date (``--now``); a record without a first-seen time counts.
RECORD_AGE = re.compile(r"^vul(Asap|Later|Nntf)OlderThan([1-9][0-9]{0,3})d$")
RECORD_AGE_FORM = "vul{Asap|Later|Nntf}OlderThan{N}d"
RECORD_AGE_MEANING = (
    "vulnerability records of that priority first seen more than N days ago "
    "(N = 1 to 3650; e.g. vulAsapOlderThan30d)"
)


def record_metric(name: str) -> tuple[str, str, int] | None:
    """``(necessity, kind, days)`` for a record metric (kind ``fixable`` or ``older``), or
    None for any other name."""
    if name in RECORD_METRICS:
        return name.removeprefix("fixableVul").lower(), "fixable", 0
    match = RECORD_AGE.match(name)
    if match is not None and int(match.group(2)) <= 3650:
        return match.group(1).lower(), "older", int(match.group(2))
    return None


#: Largest magnitude a literal or a metric value may have. Far beyond any real counter or
#: image size, and small enough that sums of them never overflow float arithmetic.
MAX_MAGNITUDE = 10**18


#: Prefixes that read a counter against a baseline (``gate check --baseline FILE`` or
#: ``--compare-to TAG``): ``baseline.imageVulAsap``, ``delta.imageVulAsap``.
COMPARISONS: dict[str, str] = {
    "baseline": "the counter in the baseline (0 when the baseline file has no entry)",
    "delta": "current value minus baseline (the current value when the file has no entry)",
}


def is_metric(name: str) -> bool:
    return name in CATALOGUE or record_metric(name) is not None or _is_compared(name)


def _is_compared(name: str) -> bool:
    prefix, dot, base = name.partition(".")
    return bool(dot) and prefix in COMPARISONS and base in CATALOGUE


def _suggest_compared(prefix: str, base: str) -> str | None:
    if prefix not in COMPARISONS:
        close = difflib.get_close_matches(prefix.lower(), list(COMPARISONS), n=1, cutoff=0.6)
        if not close:
            return None
        prefix = close[0]
    base_close = base if base in CATALOGUE else suggest(base)
    return f"{prefix}.{base_close}" if base_close in CATALOGUE else None


def suggest(name: str) -> str | None:
    """The closest known metric name, for "did you mean" messages."""
    prefix, dot, base = name.partition(".")
    if dot:
        return _suggest_compared(prefix, base)
    known = [*CATALOGUE, *RECORD_METRICS]
    lowered = {key.lower(): key for key in known}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None
