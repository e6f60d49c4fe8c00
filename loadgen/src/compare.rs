//! `compare BASE.json NEW.json --tolerance 10%`: every gated figure (not `info`) and every
//! latency's p99 (except `*_baseline` latencies, measured without Switchboard in the path) of
//! each scenario in the baseline is looked up in the new run; a change worse
//! than the tolerance in the figure's bad direction is a regression, and so is a gated value
//! that disappeared. Figures only in the new run are listed as `new`, never gated.
//!
//! Pure: `main.rs` reads the files, prints the table and maps the verdict to the exit code.

use crate::report::table::render;
use crate::results::{Better, RunReport};

/// One compared value.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `scenario/figure` or `scenario/latency.p99`.
    pub name: String,
    /// The unit.
    pub unit: String,
    /// Baseline value.
    pub base: Option<f64>,
    /// New value.
    pub new: Option<f64>,
    /// Which way is good.
    pub better: Better,
    /// The verdict.
    pub verdict: Verdict,
}

/// What a row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the tolerance.
    Ok,
    /// Better than the tolerance.
    Improved,
    /// Worse than the tolerance.
    Regressed,
    /// In the baseline, gone now.
    Missing,
    /// Only in the new run.
    New,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Improved => "improved",
            Self::Regressed => "REGRESSED",
            Self::Missing => "MISSING",
            Self::New => "new",
        }
    }
}

/// The result of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Every compared value.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Whether any gated value regressed or went missing.
    pub fn regressed(&self) -> bool {
        self.rows
            .iter()
            .any(|r| matches!(r.verdict, Verdict::Regressed | Verdict::Missing))
    }

    /// The table: figure, base, new, change, verdict.
    pub fn table(&self) -> String {
        let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let change = match (r.base, r.new) {
                    (Some(b), Some(n)) if b != 0.0 => format!("{:+.1}%", (n - b) / b.abs() * 100.0),
                    (Some(b), Some(n)) if b == n => "+0.0%".to_owned(),
                    _ => "-".to_owned(),
                };
                vec![
                    r.name.clone(),
                    r.unit.clone(),
                    fmt(r.base),
                    fmt(r.new),
                    change,
                    r.verdict.as_str().to_owned(),
                ]
            })
            .collect();
        render(
            &["figure", "unit", "base", "new", "change", "verdict"],
            &rows,
        )
    }
}

/// The verdict for one gated pair.
pub fn judge(base: f64, new: f64, better: Better, tolerance: f64) -> Verdict {
    let worse = match better {
        Better::Higher => base - new,
        Better::Lower => new - base,
        Better::Info => return Verdict::Ok,
    };
    let scale = base.abs();
    if scale == 0.0 {
        return if worse > 0.0 {
            Verdict::Regressed
        } else if worse < 0.0 {
            Verdict::Improved
        } else {
            Verdict::Ok
        };
    }
    let rel = worse / scale;
    if rel > tolerance {
        Verdict::Regressed
    } else if rel < -tolerance {
        Verdict::Improved
    } else {
        Verdict::Ok
    }
}

/// Compares `new` against `base`.
pub fn compare(base: &RunReport, new: &RunReport, tolerance: f64) -> Comparison {
    let mut rows = Vec::new();
    for bs in &base.scenarios {
        let ns = new.scenarios.iter().find(|s| s.name == bs.name);
        let mut push = |name: String, unit: &str, b: f64, n: Option<f64>, better: Better| {
            let verdict = match n {
                Some(n) => judge(b, n, better, tolerance),
                None => Verdict::Missing,
            };
            rows.push(Row {
                name,
                unit: unit.to_owned(),
                base: Some(b),
                new: n,
                better,
                verdict,
            });
        };
        for (k, f) in bs.figures.iter().filter(|(_, f)| f.better != Better::Info) {
            let n = ns.and_then(|s| s.figures.get(k)).map(|f| f.value);
            push(format!("{}/{k}", bs.name), &f.unit, f.value, n, f.better);
        }
        let gated =
            |(k, l): &(&String, &crate::results::Latency)| l.count > 0 && !k.ends_with("_baseline");
        for (k, l) in bs.latencies.iter().filter(gated) {
            let n = ns
                .and_then(|s| s.latencies.get(k))
                .filter(|l| l.count > 0)
                .map(|l| l.p99);
            push(
                format!("{}/{k}.p99", bs.name),
                &l.unit,
                l.p99,
                n,
                Better::Lower,
            );
        }
    }
    for ns in &new.scenarios {
        let bs = base.scenarios.iter().find(|s| s.name == ns.name);
        for (k, f) in ns.figures.iter().filter(|(_, f)| f.better != Better::Info) {
            if bs.is_none_or(|b| !b.figures.contains_key(k)) {
                rows.push(Row {
                    name: format!("{}/{k}", ns.name),
                    unit: f.unit.clone(),
                    base: None,
                    new: Some(f.value),
                    better: f.better,
                    verdict: Verdict::New,
                });
            }
        }
    }
    Comparison { rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Figure, Latency, ScenarioReport};

    fn run(rate: f64, p99: f64, errors: f64) -> RunReport {
        let mut s = ScenarioReport {
            name: "setup-storm".into(),
            ..Default::default()
        };
        s.figures
            .insert("setups_per_s".into(), Figure::higher(rate, "1/s"));
        s.figures
            .insert("errors".into(), Figure::lower(errors, "count"));
        s.figures
            .insert("setups".into(), Figure::info(rate * 10.0, "count"));
        s.latencies.insert(
            "setup".into(),
            Latency {
                unit: "us".into(),
                count: 10,
                p99,
                ..Default::default()
            },
        );
        RunReport {
            tool: "t".into(),
            git_rev: "r".into(),
            started_at: "s".into(),
            machine: serde_json::json!({}),
            config: serde_json::json!({}),
            scenarios: vec![s],
        }
    }

    #[test]
    fn same_run_passes() {
        let a = run(1000.0, 5000.0, 0.0);
        let c = compare(&a, &a, 0.1);
        assert!(!c.regressed(), "{}", c.table());
        assert_eq!(c.rows.len(), 3, "info figures are not gated: {:?}", c.rows);
    }

    #[test]
    fn regressions_beyond_tolerance_fail() {
        let base = run(1000.0, 5000.0, 0.0);
        // 5 % slower rate, 5 % higher p99: within 10 %.
        assert!(!compare(&base, &run(950.0, 5250.0, 0.0), 0.1).regressed());
        // 20 % slower rate.
        let c = compare(&base, &run(800.0, 5000.0, 0.0), 0.1);
        assert!(c.regressed());
        assert!(c.table().contains("REGRESSED"), "{}", c.table());
        assert!(c.table().contains("-20.0%"), "{}", c.table());
        // p99 up 50 %.
        assert!(compare(&base, &run(1000.0, 7500.0, 0.0), 0.1).regressed());
        // Errors appearing where there were none.
        assert!(compare(&base, &run(1000.0, 5000.0, 3.0), 0.1).regressed());
        // Improvements are not regressions.
        let c = compare(&base, &run(2000.0, 1000.0, 0.0), 0.1);
        assert!(!c.regressed());
        assert!(c.rows.iter().any(|r| r.verdict == Verdict::Improved));
    }

    #[test]
    fn missing_scenario_fails_and_new_figures_are_listed() {
        let base = run(1000.0, 5000.0, 0.0);
        let mut new = run(1000.0, 5000.0, 0.0);
        new.scenarios[0].name = "bulk".into();
        let c = compare(&base, &new, 0.1);
        assert!(c.regressed());
        assert!(c.rows.iter().any(|r| r.verdict == Verdict::New));
    }
}
