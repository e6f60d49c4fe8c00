//! Hand-written SVG plots of a run: per scenario, one latency percentile plot (every latency
//! of the scenario as one line, x on a log "nines" axis 0, 90, 99, 99.9, 99.99 %, y in us)
//! and one x/y line plot per series (e.g. RSS per session against sessions held).
//!
//! It only turns numbers into SVG text (self-contained, no scripts, no external fonts) and
//! writes files on request; it does not compute percentiles (`results.rs` does).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::LoadgenError;
use crate::results::{Latency, RunReport, ScenarioReport, Series};

/// Canvas size.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
/// Plot area margins: left (y labels), right, top (title), bottom (x labels, legend).
const LEFT: f64 = 80.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 70.0;
/// Line colours, cycled (colour-blind-safe palette).
const COLOURS: &[&str] = &[
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
];
/// The nines axis always reaches at least 99.99 %.
const MIN_NINES: f64 = 4.0;
/// ... and at most 99.9999 % (finer percentiles are drawn at its end).
const MAX_NINES: f64 = 6.0;

/// One SVG document and the file name it is written under.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// `<scenario>-latency.svg` or `<scenario>-<series>.svg` (file-name safe).
    pub file_name: String,
    /// The plot's title.
    pub title: String,
    /// The SVG text.
    pub svg: String,
}

/// Every plot of every scenario of `run`.
pub fn run_plots(run: &RunReport) -> Vec<Plot> {
    run.scenarios.iter().flat_map(scenario_plots).collect()
}

/// A scenario's plots: its latency plot (when it has latencies), then one per series.
pub fn scenario_plots(s: &ScenarioReport) -> Vec<Plot> {
    let mut out = Vec::new();
    let latencies: BTreeMap<&str, &Latency> = s
        .latencies
        .iter()
        .filter(|(_, l)| l.count > 0 && !l.percentiles.is_empty())
        .map(|(k, l)| (k.as_str(), l))
        .collect();
    if !latencies.is_empty() {
        let title = format!("{}: latency by percentile", s.name);
        out.push(Plot {
            file_name: format!("{}-latency.svg", file_safe(&s.name)),
            svg: latency_svg(&title, &latencies),
            title,
        });
    }
    for (name, series) in &s.series {
        if series.points.is_empty() {
            continue;
        }
        let title = format!("{}: {name}", s.name);
        out.push(Plot {
            file_name: format!("{}-{}.svg", file_safe(&s.name), file_safe(name)),
            svg: series_svg(&title, series),
            title,
        });
    }
    out
}

/// Writes every plot of `run` into `dir` (created if missing); the paths written.
pub fn write_svgs(run: &RunReport, dir: &Path) -> Result<Vec<PathBuf>, LoadgenError> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for plot in run_plots(run) {
        let path = dir.join(&plot.file_name);
        std::fs::write(&path, plot.svg)?;
        written.push(path);
    }
    Ok(written)
}

/// A latency percentile plot: one line per entry of `latencies`.
pub fn latency_svg(title: &str, latencies: &BTreeMap<&str, &Latency>) -> String {
    let finite_nines = latencies
        .values()
        .flat_map(|l| l.percentiles.iter())
        .filter(|(p, _)| *p < 100.0)
        .map(|(p, _)| nines(*p))
        .fold(0.0_f64, f64::max);
    let x_max = finite_nines.ceil().clamp(MIN_NINES, MAX_NINES);
    let y_top = latencies
        .values()
        .flat_map(|l| l.percentiles.iter().map(|(_, v)| *v))
        .fold(0.0_f64, f64::max);
    let y_axis = Axis::linear(0.0, y_top);
    let frame = Frame {
        x: Axis {
            lo: 0.0,
            hi: x_max,
            ticks: (0..=x_max as u32).map(f64::from).collect(),
        },
        y: y_axis,
    };
    let mut svg = open_svg(title);
    frame.draw_grid(&mut svg, nines_label, fmt_number);
    axis_titles(&mut svg, "percentile", "latency (us)");
    for (i, (name, latency)) in latencies.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = latency
            .percentiles
            .iter()
            .map(|&(p, v)| (nines(p).min(x_max), v))
            .collect();
        frame.draw_line(&mut svg, &format!("latency {name}"), colour, &points);
        let label = format!(
            "{name}: p50 {} p99 {} p99.9 {} max {} us (n={})",
            fmt_number(latency.p50),
            fmt_number(latency.p99),
            fmt_number(latency.p999),
            fmt_number(latency.max),
            latency.count
        );
        legend(&mut svg, i, colour, &label);
    }
    svg.push_str("</svg>\n");
    svg
}

/// An x/y line plot of one series (both axes linear).
pub fn series_svg(title: &str, series: &Series) -> String {
    let (x_lo, x_hi) = min_max(series.points.iter().map(|p| p.0));
    let (y_lo, y_hi) = min_max(series.points.iter().map(|p| p.1));
    let frame = Frame {
        x: Axis::linear(x_lo.min(0.0), x_hi),
        y: Axis::linear(y_lo.min(0.0), y_hi),
    };
    let mut svg = open_svg(title);
    frame.draw_grid(&mut svg, fmt_number, fmt_number);
    axis_titles(&mut svg, &series.x_label, &series.y_label);
    frame.draw_line(&mut svg, "series", COLOURS[0], &series.points);
    for &(x, y) in &series.points {
        let (px, py) = frame.map(x, y);
        let _ = writeln!(
            svg,
            r#"<circle cx="{px:.1}" cy="{py:.1}" r="3" fill="{}"><title>{}: {}</title></circle>"#,
            COLOURS[0],
            fmt_number(x),
            fmt_number(y)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// `-log10(1 - p/100)`: 0 % → 0, 90 % → 1, 99 % → 2, 99.9 % → 3; 100 % → +inf.
pub fn nines(percentile: f64) -> f64 {
    let rest = 1.0 - (percentile / 100.0).clamp(0.0, 1.0);
    if rest <= 0.0 {
        f64::INFINITY
    } else {
        -rest.log10()
    }
}

/// The label of a nines tick: 0 → "0%", 1 → "90%", 3 → "99.9%".
fn nines_label(x: f64) -> String {
    match x.round() as i64 {
        ..=0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        2 => "99%".to_owned(),
        n => format!("99.{}%", "9".repeat((n - 2) as usize)),
    }
}

/// One axis: its range and tick positions (in data units).
#[derive(Debug, Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Axis {
    /// A linear axis over `lo..=hi`, widened to "nice" tick steps (1, 2, 5 × 10^k).
    fn linear(lo: f64, hi: f64) -> Self {
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
        let raw = (hi - lo) / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        let lo = (lo / step).floor() * step;
        let hi = (hi / step).ceil() * step;
        let count = ((hi - lo) / step).round() as usize;
        let ticks = (0..=count).map(|i| lo + step * i as f64).collect();
        Self { lo, hi, ticks }
    }

    /// Fraction 0..1 of `v` along the axis.
    fn frac(&self, v: f64) -> f64 {
        if self.hi > self.lo {
            ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// The plot area and its two axes.
struct Frame {
    x: Axis,
    y: Axis,
}

impl Frame {
    fn map(&self, x: f64, y: f64) -> (f64, f64) {
        let w = WIDTH - LEFT - RIGHT;
        let h = HEIGHT - TOP - BOTTOM;
        (LEFT + self.x.frac(x) * w, TOP + h - self.y.frac(y) * h)
    }

    fn draw_grid(
        &self,
        svg: &mut String,
        x_label: impl Fn(f64) -> String,
        y_label: impl Fn(f64) -> String,
    ) {
        let bottom = HEIGHT - BOTTOM;
        svg.push_str(r##"<g class="grid" stroke="#dddddd" stroke-width="1">"##);
        for &t in &self.x.ticks {
            let (px, _) = self.map(t, 0.0);
            let _ = write!(
                svg,
                r#"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{bottom}"/>"#
            );
        }
        for &t in &self.y.ticks {
            let (_, py) = self.map(self.x.lo, t);
            let right = WIDTH - RIGHT;
            let _ = write!(
                svg,
                r#"<line x1="{LEFT}" y1="{py:.1}" x2="{right}" y2="{py:.1}"/>"#
            );
        }
        svg.push_str("</g>\n");
        let _ = writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#444444"/>"##,
            WIDTH - LEFT - RIGHT,
            HEIGHT - TOP - BOTTOM
        );
        svg.push_str(r#"<g class="ticks" font-size="11">"#);
        for &t in &self.x.ticks {
            let (px, _) = self.map(t, 0.0);
            let _ = write!(
                svg,
                r#"<text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                bottom + 14.0,
                escape(&x_label(t))
            );
        }
        for &t in &self.y.ticks {
            let (_, py) = self.map(self.x.lo, t);
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                py + 4.0,
                escape(&y_label(t))
            );
        }
        svg.push_str("</g>\n");
    }

    fn draw_line(&self, svg: &mut String, class: &str, colour: &str, points: &[(f64, f64)]) {
        let mut d = String::new();
        for (i, &(x, y)) in points.iter().enumerate() {
            let (px, py) = self.map(x, y);
            let _ = write!(d, "{}{px:.1},{py:.1}", if i == 0 { "M" } else { " L" });
        }
        let _ = writeln!(
            svg,
            r#"<path class="{}" d="{d}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            escape(class)
        );
    }
}

fn open_svg(title: &str) -> String {
    let mut svg = String::with_capacity(8 * 1024);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, "<title>{}</title>", escape(title));
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    svg
}

fn axis_titles(svg: &mut String, x: &str, y: &str) {
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - BOTTOM + 32.0,
        escape(x)
    );
    let cy = TOP + (HEIGHT - TOP - BOTTOM) / 2.0;
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{cy:.1}" text-anchor="middle" font-size="12" transform="rotate(-90 16 {cy:.1})">{}</text>"#,
        escape(y)
    );
}

fn legend(svg: &mut String, index: usize, colour: &str, label: &str) {
    let y = HEIGHT - BOTTOM + 48.0 + 14.0 * index as f64;
    let _ = writeln!(
        svg,
        r#"<g class="legend"><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text></g>"#,
        y - 4.0,
        LEFT + 20.0,
        y - 4.0,
        LEFT + 26.0,
        y,
        escape(label)
    );
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| {
            Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
        .unwrap_or((0.0, 1.0))
}

/// A number for a label: integers with thousands separators, else 3 significant digits.
pub fn fmt_number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a >= 1000.0 || (a - a.round()).abs() < 1e-9 {
        let n = v.round() as i64;
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 {
            out.insert(0, '-');
        }
        out
    } else {
        let decimals = if a >= 100.0 {
            0
        } else if a >= 10.0 {
            1
        } else if a >= 1.0 {
            2
        } else {
            3
        };
        format!("{v:.decimals$}")
    }
}

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Letters, digits, `-` and `_`; anything else becomes `_`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::{Figure, LatencyRecorder};

    /// Parses `xml` fully; returns the number of `<path>` elements (panics on malformed XML).
    pub(crate) fn parse_count_paths(xml: &str) -> usize {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut paths = 0;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e))
                    if e.name().as_ref() == b"path" =>
                {
                    paths += 1;
                }
                Ok(_) => {}
                Err(e) => panic!(
                    "not well-formed at {}: {e}\n{xml}",
                    reader.buffer_position()
                ),
            }
        }
        paths
    }

    fn latency(scale: u64) -> Latency {
        let r = LatencyRecorder::new();
        for us in 1..=10_000u64 {
            r.record_us(us * scale);
        }
        r.summary()
    }

    pub(crate) fn sample_scenario() -> ScenarioReport {
        let mut s = ScenarioReport {
            name: "idle-scale <&>".into(),
            duration_s: 2.0,
            ..Default::default()
        };
        s.latencies.insert("setup".into(), latency(3));
        s.latencies.insert("rtt".into(), latency(1));
        s.latencies
            .insert("empty".into(), LatencyRecorder::new().summary());
        s.figures
            .insert("sessions".into(), Figure::info(200.0, "count"));
        s.series.insert(
            "rss_per_session".into(),
            Series {
                x_label: "sessions held".into(),
                y_label: "B per session".into(),
                points: vec![(100.0, 5_000.0), (200.0, 4_200.0), (400.0, 3_900.5)],
            },
        );
        s
    }

    #[test]
    fn latency_plot_is_xml_with_a_path_per_latency() {
        let s = sample_scenario();
        let plots = scenario_plots(&s);
        assert_eq!(plots.len(), 2, "latency + one series");
        let lat = &plots[0];
        assert_eq!(lat.file_name, "idle-scale____-latency.svg");
        // Two latencies with samples, the empty one is left out.
        assert_eq!(parse_count_paths(&lat.svg), 2);
        assert!(lat.svg.contains(r#"class="latency setup""#));
        assert!(lat.svg.contains(r#"class="latency rtt""#));
        assert!(lat.svg.contains("99.99%"), "the nines axis reaches 99.99 %");
        assert!(lat.svg.contains("idle-scale &lt;&amp;&gt;"));
    }

    #[test]
    fn series_plot_is_xml_with_its_points() {
        let s = sample_scenario();
        let plots = scenario_plots(&s);
        let series = &plots[1];
        assert_eq!(series.file_name, "idle-scale____-rss_per_session.svg");
        assert_eq!(parse_count_paths(&series.svg), 1);
        assert_eq!(series.svg.matches("<circle").count(), 3);
        assert!(series.svg.contains("sessions held"));
        assert!(
            series.svg.contains("400: 3,901"),
            "point tooltips are rounded"
        );
    }

    #[test]
    fn nines_axis() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert!(nines(100.0).is_infinite());
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(4.0), "99.99%");
    }

    #[test]
    fn linear_axis_ticks_are_nice_and_cover_the_range() {
        let a = Axis::linear(0.0, 937.0);
        assert_eq!(a.lo, 0.0);
        assert!(a.hi >= 937.0 && a.hi <= 1000.0, "{a:?}");
        assert!(a.ticks.len() >= 4 && a.ticks.len() <= 11, "{a:?}");
        let flat = Axis::linear(5.0, 5.0);
        assert!(flat.hi > flat.lo);
    }

    #[test]
    fn numbers_for_labels() {
        assert_eq!(fmt_number(1_234_567.0), "1,234,567");
        assert_eq!(fmt_number(-1000.0), "-1,000");
        assert_eq!(fmt_number(12.0), "12");
        assert_eq!(fmt_number(1.23456), "1.23");
        assert_eq!(fmt_number(0.5), "0.500");
    }

    #[test]
    fn svgs_are_written_per_plot() {
        let run = RunReport {
            tool: "t".into(),
            git_rev: "r".into(),
            started_at: "now".into(),
            machine: serde_json::json!({}),
            config: serde_json::json!({}),
            scenarios: vec![sample_scenario()],
        };
        let dir = tempfile::tempdir().unwrap();
        let files = write_svgs(&run, dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        for f in files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(parse_count_paths(&text) >= 1);
        }
    }
}
