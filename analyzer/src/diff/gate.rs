//! The CI gate: `--fail-on 'p95:+10%'` rules, and which functions break them. A rule is broken by a change
//! past its threshold that is also significant (see [`Change::significant`]): noise never fails a build.

use super::{Change, Diff, Metric};

/// One `--fail-on` rule: a metric may not grow (or, with `--fail-on-improvement`, shrink) by more than
/// `percent`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub metric: Metric,
    pub percent: f64,
}

/// A `--fail-on` that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--fail-on {text:?}: {why} (expected METRIC:+N%, METRIC one of hits, mean, p50, p90, p95, p99, total, self)")]
pub struct RuleError {
    text: String,
    why: &'static str,
}

impl std::str::FromStr for Rule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Rule, RuleError> {
        let err = |why| RuleError { text: text.to_owned(), why };
        let (metric, limit) = text.split_once(':').ok_or_else(|| err("no ':'"))?;
        let metric = Metric::parse(metric.trim()).ok_or_else(|| err("unknown metric"))?;
        let limit = limit.trim();
        let number = limit.strip_suffix('%').ok_or_else(|| err("the limit must end in %"))?;
        let number = number.strip_prefix('+').unwrap_or(number);
        if number.starts_with('-') {
            return Err(err("the limit is a growth (+N%); --fail-on-improvement checks the other way"));
        }
        let percent: f64 = number.parse().map_err(|_| err("the limit is not a number"))?;
        if !percent.is_finite() {
            return Err(err("the limit is not a number"));
        }
        Ok(Rule { metric, percent })
    }
}

/// A function that broke a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub function: String,
    pub rule: Rule,
    pub change: Change,
    /// It got faster (a rule checked by `--fail-on-improvement`).
    pub improvement: bool,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = self.change.percent.map_or("new".to_owned(), |p| format!("{p:+.1}%"));
        write!(
            f,
            "{} {}: {} {} → {} ({pct}, limit {}{}%)",
            if self.improvement { "improved" } else { "regressed" },
            self.function,
            self.rule.metric.name(),
            super::render::value(self.rule.metric, self.change.before),
            super::render::value(self.rule.metric, self.change.after),
            if self.improvement { "-" } else { "+" },
            self.rule.percent,
        )
    }
}

/// Every significant change past a rule (regressions; improvements too with `improvements`), in the diff's
/// row order.
pub fn check(d: &Diff, rules: &[Rule], improvements: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    for row in &d.rows {
        for rule in rules {
            let c = row.change(rule.metric);
            if !c.significant {
                continue;
            }
            // A metric from 0 to something has grown by more than any percentage.
            let pct = c.percent.unwrap_or(if c.after > c.before { f64::INFINITY } else { 0.0 });
            if pct > rule.percent {
                out.push(Violation { function: row.name.clone(), rule: *rule, change: c, improvement: false });
            } else if improvements && pct < -rule.percent {
                out.push(Violation { function: row.name.clone(), rule: *rule, change: c, improvement: true });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_bad_ones_say_why() {
        assert_eq!("p95:+10%".parse(), Ok(Rule { metric: Metric::P95, percent: 10.0 }));
        assert_eq!("self:20%".parse(), Ok(Rule { metric: Metric::SelfTime, percent: 20.0 }));
        assert_eq!(" mean : +2.5% ".trim().parse(), Ok(Rule { metric: Metric::Mean, percent: 2.5 }));
        for (bad, why) in [
            ("p95", "no ':'"),
            ("p42:+10%", "unknown metric"),
            ("p95:+10", "end in %"),
            ("p95:-10%", "growth"),
            ("p95:+x%", "not a number"),
        ] {
            let e = bad.parse::<Rule>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(bad) && !e.contains('\n'), "{bad}: {e}");
        }
    }
}
