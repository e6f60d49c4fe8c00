//! The comparison table: one row per target, one column per figure, each figure followed by
//! its ratio to direct TCP (`D`) and to HAProxy with splice (`H`). The same data, with the raw
//! per-target results, goes to one JSON file.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

/// (column title, JSON pointer into a target's result).
const FIGURES: &[(&str, &str)] = &[
    ("bulk Gbit/s", "/bulk/gbps_median"),
    ("bulk CPU s/GiB", "/bulk/relay_cpu_s_per_gib"),
    ("RTT p50 us", "/rtt/p50_us"),
    ("RTT p99 us", "/rtt/p99_us"),
    ("RTT p99.9 us", "/rtt/p999_us"),
    ("N-sess Gbit/s", "/many/gbps"),
    ("N-sess CPU s/GiB", "/many/relay_cpu_s_per_gib"),
    ("frame CPU us", "/interactive/relay_cpu_us_per_frame"),
    ("frame lat p50 us", "/interactive/latency_p50_us"),
    ("frame lat p99 us", "/interactive/latency_p99_us"),
    ("idle B/sess (1)", "/memory/0/bytes_per_session"),
    ("idle B/sess (2)", "/memory/1/bytes_per_session"),
];

const HAPROXY: &str = "haproxy-splice";
const DIRECT: &str = "direct";

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub(crate) fn report(
    dir: &Path,
    order: &str,
    out: &Path,
    markdown: Option<&Path>,
) -> anyhow::Result<()> {
    let mut targets: Vec<(String, Value)> = Vec::new();
    for name in order.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let path = dir.join(format!("{name}.json"));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut v: Value = serde_json::from_str(&text)?;
                // The memory run uses a fresh relay process and its own file.
                let mem = dir.join(format!("{name}.mem.json"));
                if let Ok(text) = std::fs::read_to_string(&mem) {
                    let m: Value = serde_json::from_str(&text)?;
                    if let (Some(obj), Some(mv)) = (v.as_object_mut(), m.get("memory")) {
                        obj.insert("memory".into(), mv.clone());
                    }
                    let extra = m
                        .get("errors")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(errs) = v.get_mut("errors").and_then(Value::as_array_mut) {
                        errs.extend(extra);
                    }
                }
                targets.push((name.to_owned(), v));
            }
            Err(_) => eprintln!("(no result for {name})"),
        }
    }
    let value = |target: &str, ptr: &str| -> Option<f64> {
        targets
            .iter()
            .find(|(n, _)| n == target)
            .and_then(|(_, v)| v.pointer(ptr))
            .and_then(Value::as_f64)
    };
    let mut table = String::new();
    let _ = writeln!(
        table,
        "Each cell: value, then ratio to direct TCP (D) and to HAProxy+splice (H)."
    );
    let mut header = String::from("| target |");
    let mut rule = String::from("|---|");
    for (title, _) in FIGURES {
        let _ = write!(header, " {title} |");
        rule.push_str("---|");
    }
    let _ = writeln!(table, "{header}\n{rule}");
    let mut ratios = serde_json::Map::new();
    for (name, _) in &targets {
        let mut row = format!("| {name} |");
        let mut per = serde_json::Map::new();
        for (title, ptr) in FIGURES {
            let v = value(name, ptr);
            let d = value(DIRECT, ptr);
            let h = value(HAPROXY, ptr);
            let ratio = |base: Option<f64>| match (v, base) {
                (Some(v), Some(b)) if b != 0.0 => Some(v / b),
                _ => None,
            };
            let (rd, rh) = (ratio(d), ratio(h));
            let cell = match v {
                None => "-".to_owned(),
                Some(v) => {
                    let mut c = fmt_num(v);
                    if let Some(r) = rd.filter(|_| name != DIRECT) {
                        let _ = write!(c, " D{r:.2}");
                    }
                    if let Some(r) = rh.filter(|_| name != HAPROXY) {
                        let _ = write!(c, " H{r:.2}");
                    }
                    c
                }
            };
            let _ = write!(row, " {cell} |");
            per.insert(
                (*title).to_owned(),
                json!({"value": v, "vs_direct": rd, "vs_haproxy_splice": rh}),
            );
        }
        let _ = writeln!(table, "{row}");
        ratios.insert(name.clone(), Value::Object(per));
    }
    // Added latency of the interactive workload over direct TCP.
    let _ = writeln!(
        table,
        "\nAdded frame latency over direct TCP (p50 / p99, us):"
    );
    for (name, _) in &targets {
        let add = |ptr: &str| match (value(name, ptr), value(DIRECT, ptr)) {
            (Some(v), Some(d)) => fmt_num(v - d),
            _ => "-".to_owned(),
        };
        if name != DIRECT {
            let _ = writeln!(
                table,
                "  {name}: {} / {}",
                add("/interactive/latency_p50_us"),
                add("/interactive/latency_p99_us")
            );
        }
    }
    let errors: Vec<String> = targets
        .iter()
        .flat_map(|(n, v)| {
            v.get("errors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(move |e| format!("{n}: {e}"))
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(table, "\nErrors:");
        for e in &errors {
            let _ = writeln!(table, "  {e}");
        }
    }
    println!("{table}");
    if let Some(md) = markdown {
        std::fs::write(md, &table)?;
    }
    let combined = json!({
        "generated_unix_s": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "targets": targets.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        "figures": Value::Object(ratios),
    });
    std::fs::write(out, serde_json::to_string_pretty(&combined)?)?;
    Ok(())
}
