//! Per-entry screens of when an entry was recorded: backdated business dates, entries
//! posted off hours (nights, weekends, the fund's holidays).

use chrono::{Datelike, Timelike, Weekday};

use super::{is_spend, Facts, Finding, Severity, Thresholds};

pub(super) fn backdated(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let recorded = f.recorded_at.date_naive();
    let days = (recorded - f.business_date).num_days();
    if days > t.backdated_days {
        out.push(Finding {
            rule: "backdated",
            severity: if days > 3 * t.backdated_days {
                Severity::Medium
            } else {
                Severity::Low
            },
            message: format!(
                "{} {} dated {} was recorded on {}, {days} days later",
                f.kind, f.seq, f.business_date, recorded
            ),
            evidence: vec![f.seq],
        });
    }
}

/// Recorded on a weekend, one of the fund's holidays, or outside working hours (UTC).
pub(super) fn off_hours(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    if !is_spend(&f.kind) {
        return;
    }
    let at = f.recorded_at;
    let day = at.date_naive();
    let why = if t.holidays.contains(&day) {
        format!("the fund's holiday {day}")
    } else if matches!(at.weekday(), Weekday::Sat | Weekday::Sun) {
        "weekend".to_owned()
    } else if at.hour() < t.work_start_hour || at.hour() >= t.work_end_hour {
        "night".to_owned()
    } else {
        return;
    };
    out.push(Finding {
        rule: "off-hours",
        severity: Severity::Low,
        message: format!(
            "{} {} was recorded at {} UTC ({why})",
            f.kind,
            f.seq,
            at.format("%Y-%m-%d %H:%M"),
        ),
        evidence: vec![f.seq],
    });
}
