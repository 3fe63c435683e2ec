"""``judge``: a segment's figures -> its findings and its status (ok / warn / alert), by the configured rules."""

from __future__ import annotations

from b2bscore.monitoring.config import RulesConfig
from b2bscore.monitoring.result import Finding, Performance, worst
from b2bscore.monitoring.stats import ColumnDrift, SegmentShare

MIN_EXPECTED = 5.0
"""Expected outcomes (or, for values, rows) below which a calibration gap is not judged: too few to tell."""


def _pct(value: float) -> str:
    return f"{value:+.0%}"


def judge(features: tuple[ColumnDrift, ...], score: ColumnDrift | None, performance: Performance | None, *,
          key_features: tuple[str, ...], rules: RulesConfig, p_value: float,
          share: SegmentShare | None = None) -> tuple[str, tuple[Finding, ...]]:
    """Apply every rule; the status is the worst level reached (``ok`` when none fired)."""
    findings: list[Finding] = []
    if share is not None and abs(share.z) >= rules.min_z:
        level = rules.segment_share.level(share.factor)
        if level != "ok":
            findings.append(Finding("segment_share", level, f"share of the accounts scored went from {share.reference:.1%} "
                                    f"to {share.current:.1%} (x{share.current / share.reference:.2f}, z {share.z:.1f})"
                                    if share.reference > 0 else f"a new segment: {share.current:.1%} of the accounts"))
    drifted = sorted((f for f in features if f.drifted), key=lambda f: -f.severity)
    if features:
        share = len(drifted) / len(features)
        level = rules.drifted_share.level(share)
        if level != "ok":
            names = ", ".join(f.column for f in drifted[:5]) + (", ..." if len(drifted) > 5 else "")
            findings.append(Finding("drifted_share", level, f"{len(drifted)} of {len(features)} features drifted "
                                    f"({share:.0%}): {names}"))
    for f in drifted:
        if f.column in key_features:
            level = rules.key_feature_drift.level(f.severity)
            if level != "ok":
                findings.append(Finding("key_feature", level, f"key feature {f.column} drifted: {f.amount_method} "
                                        f"{f.amount:.3f} (threshold {f.threshold:g}, p {f.p_value:.1e})"))
    if score is not None and score.p_value < p_value:
        level = rules.score_drift.level(score.amount)
        if level != "ok":
            findings.append(Finding("score_drift", level, f"score distribution moved: {score.amount_method} "
                                    f"{score.amount:.3f} (p {score.p_value:.1e})"))
    if performance is not None:
        findings.extend(_performance_findings(performance, rules))
    return worst(["ok", *(f.level for f in findings)]), tuple(findings)


def _performance_findings(performance: Performance, rules: RulesConfig) -> list[Finding]:
    found = []
    cal = performance.calibration
    if abs(cal.z) >= rules.min_z and cal.predicted * cal.reference_ratio * cal.rows >= MIN_EXPECTED:
        level = rules.calibration_gap.level(abs(cal.gap))
        if level != "ok":
            versus = "" if abs(cal.reference_ratio - 1) < 0.005 else f" x {cal.reference_ratio:.2f} as in the reference"
            found.append(Finding("calibration_gap", level, f"realised {cal.realised:.3g} vs predicted {cal.predicted:.3g}"
                                 f"{versus} ({_pct(cal.gap)}, z {cal.z:.1f}, {cal.rows:,} rows with known outcome)"))
    if performance.drop is not None and performance.drop_z is not None and performance.drop_z >= rules.min_z:
        level = rules.performance_drop.level(performance.drop)
        if level != "ok":
            ref, cur = performance.reference, performance.current
            found.append(Finding("performance_drop", level, f"{cur.metric} fell from {ref.value:.3f} to {cur.value:.3f} "
                                 f"(z {performance.drop_z:.1f})"))
    return found
