//! A single self-contained HTML page for a run: the run's identity (tool, git revision, start
//! time, machine), then per scenario its figures, latency percentiles and errors as tables with
//! its SVG plots (`svg.rs`) inline, and the exact configuration.
//!
//! The page is well-formed XHTML-compatible markup (no scripts, no external resources), so
//! it opens from a CI artifact as is. It renders only what the report holds.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::LoadgenError;
use crate::report::svg::{self, escape, fmt_number};
use crate::results::{Better, RunReport, ScenarioReport};

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th:first-child,td:first-child{text-align:left}\
th{background:#f0f0f0}\
.errors td{color:#a00}\
.plot{margin:0.5em 0}\
pre{background:#f6f6f6;padding:0.6em;overflow:auto;font-size:12px}";

/// The whole page for `run`.
pub fn render(run: &RunReport) -> String {
    let mut h = String::with_capacity(64 * 1024);
    h.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n");
    let _ = writeln!(
        h,
        "<head><meta charset=\"utf-8\"/><title>{}</title><style>{STYLE}</style></head>",
        escape(&format!("{} {}", run.tool, run.started_at))
    );
    h.push_str("<body>\n");
    let _ = writeln!(h, "<h1>{}</h1>", escape(&run.tool));
    h.push_str("<table class=\"run\">\n");
    row(&mut h, "git revision", &run.git_rev);
    row(&mut h, "started at", &run.started_at);
    row(&mut h, "machine", &compact_json(&run.machine));
    h.push_str("</table>\n");
    for s in &run.scenarios {
        scenario(&mut h, s);
    }
    h.push_str("<h2>configuration</h2>\n");
    let _ = writeln!(h, "<pre>{}</pre>", escape(&pretty_json(&run.config)));
    h.push_str("</body>\n</html>\n");
    h
}

/// Writes [`render`]'s page to `path`.
pub fn write_html(run: &RunReport, path: &Path) -> Result<(), LoadgenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(run))?;
    Ok(())
}

fn scenario(h: &mut String, s: &ScenarioReport) {
    let _ = writeln!(
        h,
        "<h2 id=\"{}\">{}</h2>\n<p>measured for {} s</p>",
        escape(&s.name),
        escape(&s.name),
        fmt_number(s.duration_s)
    );
    if !s.figures.is_empty() {
        h.push_str("<table class=\"figures\">\n<tr><th>figure</th><th>value</th><th>unit</th><th>better</th></tr>\n");
        for (name, f) in &s.figures {
            let better = match f.better {
                Better::Higher => "higher",
                Better::Lower => "lower",
                Better::Info => "(info)",
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{better}</td></tr>",
                escape(name),
                fmt_number(f.value),
                escape(&f.unit)
            );
        }
        h.push_str("</table>\n");
    }
    if !s.latencies.is_empty() {
        h.push_str("<table class=\"latencies\">\n<tr><th>latency (us)</th><th>count</th><th>min</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n");
        for (name, l) in &s.latencies {
            let _ = write!(h, "<tr><td>{}</td><td>{}</td>", escape(name), l.count);
            for v in [l.min, l.mean, l.p50, l.p90, l.p99, l.p999, l.max] {
                let _ = write!(h, "<td>{}</td>", fmt_number(v));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
    if s.errors.is_empty() {
        h.push_str("<p class=\"no-errors\">no errors</p>\n");
    } else {
        h.push_str("<table class=\"errors\">\n<tr><th>error reason</th><th>count</th></tr>\n");
        for (reason, n) in &s.errors {
            let _ = writeln!(h, "<tr><td>{}</td><td>{n}</td></tr>", escape(reason));
        }
        h.push_str("</table>\n");
    }
    for plot in svg::scenario_plots(s) {
        let _ = writeln!(h, "<div class=\"plot\">{}</div>", plot.svg);
    }
    if !s.config.is_null() {
        let _ = writeln!(
            h,
            "<details><summary>options</summary><pre>{}</pre></details>",
            escape(&pretty_json(&s.config))
        );
    }
}

fn row(h: &mut String, key: &str, value: &str) {
    let _ = writeln!(
        h,
        "<tr><th>{}</th><td>{}</td></tr>",
        escape(key),
        escape(value)
    );
}

fn compact_json(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn pretty_json(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::svg::tests::{parse_count_paths, sample_scenario};

    fn run() -> RunReport {
        let mut failing = sample_scenario();
        failing.name = "churn".into();
        failing.errors.insert("rate_limited".into(), 7);
        RunReport {
            tool: "switchboard-loadgen 0.1.0".into(),
            git_rev: "abc123-dirty".into(),
            started_at: "2026-11-23T05:00:00Z".into(),
            machine: serde_json::json!({"cpus": 2, "kernel": "6.1"}),
            config: serde_json::json!({"spawn": true, "note": "<b>"}),
            scenarios: vec![sample_scenario(), failing],
        }
    }

    #[test]
    fn page_is_well_formed_and_embeds_every_plot() {
        let page = render(&run());
        // The doctype is not XML; everything after it must be.
        let body = page.trim_start_matches("<!DOCTYPE html>\n");
        // Two scenarios x (2 latency lines + 1 series line).
        assert_eq!(parse_count_paths(body), 6);
        assert_eq!(page.matches("<svg ").count(), 4);
        assert!(page.contains("abc123-dirty"));
        assert!(page.contains("&lt;b&gt;"), "configuration is escaped");
    }

    #[test]
    fn figures_and_errors_are_tabled() {
        let page = render(&run());
        assert!(page.contains("<td>sessions</td><td>200</td><td>count</td><td>(info)</td>"));
        assert!(page.contains("<td>rate_limited</td><td>7</td>"));
        assert_eq!(
            page.matches("no errors").count(),
            1,
            "only the first scenario is clean"
        );
    }

    #[test]
    fn written_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/report.html");
        write_html(&run(), &path).unwrap();
        assert!(
            std::fs::read_to_string(path)
                .unwrap()
                .starts_with("<!DOCTYPE html>")
        );
    }
}
