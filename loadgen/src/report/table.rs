//! The human summary of a run: per scenario its figures, latency percentiles (ms) and errors
//! by reason, as aligned plain-text tables.
//!
//! Formatting only.

use std::fmt::Write as _;

use crate::results::{Figure, RunReport};

/// A value with its unit, readable (`12.3 MB/s`, `4812 1/s`).
pub fn human(f: &Figure) -> String {
    let v = f.value;
    match f.unit.as_str() {
        "B" | "B/s" => {
            let suffix = if f.unit == "B/s" { "/s" } else { "" };
            let (d, u) = if v >= 1e9 {
                (1e9, "GB")
            } else if v >= 1e6 {
                (1e6, "MB")
            } else if v >= 1e3 {
                (1e3, "kB")
            } else {
                (1.0, "B")
            };
            format!("{:.1} {u}{suffix}", v / d)
        }
        "count" => format!("{v:.0}"),
        unit => format!("{v:.1} {unit}"),
    }
}

/// Renders rows with columns padded to their widest cell.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.len());
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let parts: Vec<String> = cells
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        let _ = writeln!(out, "  {}", parts.join("  ").trim_end());
    };
    line(&mut out, &mut header.iter().copied());
    for r in rows {
        line(&mut out, &mut r.iter().map(String::as_str));
    }
    out
}

/// The whole summary.
pub fn summary(run: &RunReport) -> String {
    let mut out = format!("{} at {} ({})\n", run.tool, run.git_rev, run.started_at);
    for s in &run.scenarios {
        let _ = writeln!(out, "\n== {} ({:.1} s)", s.name, s.duration_s);
        let rows: Vec<Vec<String>> = s
            .figures
            .iter()
            .map(|(k, f)| vec![k.clone(), human(f)])
            .collect();
        out.push_str(&render(&["figure", "value"], &rows));
        if !s.latencies.is_empty() {
            let ms = |us: f64| format!("{:.3}", us / 1000.0);
            let rows: Vec<Vec<String>> = s
                .latencies
                .iter()
                .map(|(k, l)| {
                    vec![
                        k.clone(),
                        l.count.to_string(),
                        ms(l.p50),
                        ms(l.p90),
                        ms(l.p99),
                        ms(l.p999),
                        ms(l.max),
                    ]
                })
                .collect();
            out.push_str(&render(
                &["latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"],
                &rows,
            ));
        }
        if s.errors.is_empty() {
            out.push_str("  errors: none\n");
        } else {
            let rows: Vec<Vec<String>> = s
                .errors
                .iter()
                .map(|(k, n)| vec![k.clone(), n.to_string()])
                .collect();
            out.push_str(&render(&["error", "count"], &rows));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ScenarioReport;

    #[test]
    fn summary_shows_figures_latencies_and_errors() {
        let mut s = ScenarioReport {
            name: "bulk".into(),
            duration_s: 2.0,
            ..Default::default()
        };
        s.figures
            .insert("throughput".into(), Figure::higher(2.5e9, "B/s"));
        s.errors.insert("verify_mismatch".into(), 2);
        let run = RunReport {
            tool: "t".into(),
            git_rev: "r".into(),
            started_at: "now".into(),
            machine: serde_json::json!({}),
            config: serde_json::json!({}),
            scenarios: vec![s],
        };
        let text = summary(&run);
        assert!(text.contains("== bulk"), "{text}");
        assert!(text.contains("2.5 GB/s"), "{text}");
        assert!(text.contains("verify_mismatch  2"), "{text}");
        assert_eq!(human(&Figure::info(3.0, "count")), "3");
    }
}
