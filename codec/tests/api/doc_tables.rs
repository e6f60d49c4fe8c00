//! `docs/protocol.md` and the code agree: the error-code table and the message-type table
//! list exactly what `ErrorCode::ALL` and `MESSAGE_TYPES` hold.

use switchboard_codec::ErrorCode;
use switchboard_codec::message::MESSAGE_TYPES;

fn protocol_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    std::fs::read_to_string(path).expect("docs/protocol.md is readable")
}

/// Table rows (cells trimmed) of the section whose heading is `heading`.
fn table_rows(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in doc.lines() {
        if line.starts_with('#') {
            inside = line.trim_start_matches('#').trim() == heading;
            continue;
        }
        if inside && line.starts_with('|') && !line.starts_with("|-") && !line.starts_with("| -") {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect();
            rows.push(cells);
        }
    }
    rows
}

#[test]
fn error_code_table_matches_the_enum() {
    let doc = protocol_md();
    let rows: Vec<(u16, String, String)> = table_rows(&doc, "Error codes")
        .into_iter()
        .filter_map(|r| {
            Some((
                r.first()?.parse().ok()?,
                r.get(1)?.clone(),
                r.get(2)?.clone(),
            ))
        })
        .collect();
    let expected: Vec<(u16, String, String)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.number(), c.name().to_owned(), c.sentence().to_owned()))
        .collect();
    assert_eq!(rows, expected);
}

#[test]
fn message_type_table_matches_the_code() {
    let doc = protocol_md();
    let rows: Vec<(u16, String)> = table_rows(&doc, "Message types")
        .into_iter()
        .filter_map(|r| {
            let n = u16::from_str_radix(r.first()?.strip_prefix("0x")?, 16).ok()?;
            Some((n, r.get(1)?.clone()))
        })
        .collect();
    let expected: Vec<(u16, String)> = MESSAGE_TYPES
        .iter()
        .map(|(n, name)| (*n, (*name).to_owned()))
        .collect();
    assert_eq!(rows, expected);
}
