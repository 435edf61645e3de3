//! Log line formats: each turns one line (or, for CloudTrail, one record)
//! into typed cells. A line that does not fit its format is an error with
//! the reason; the caller counts it as malformed and reports `file:line`.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime};
use serde_json::Value;

use crate::columns::{Cell, ColType, SourceColumn};
use crate::spec::LogFormat;

fn col(name: &str, ty: ColType) -> SourceColumn {
    SourceColumn {
        name: name.into(),
        source: name.into(),
        declared: format!("{ty:?}"),
        ty,
    }
}

/// The columns of a fixed-schema format (`None` for jsonl, csv and
/// parquet, whose columns come from the files).
pub fn fixed_columns(format: LogFormat) -> Option<Vec<SourceColumn>> {
    use ColType::*;
    let access = [
        ("host", Text),
        ("ident", Text),
        ("user", Text),
        ("time", TimestampTz),
        ("method", Text),
        ("path", Text),
        ("protocol", Text),
        ("status", Int32),
        ("bytes", Int64),
    ];
    Some(match format {
        LogFormat::Common => access.iter().map(|(n, t)| col(n, *t)).collect(),
        LogFormat::Combined => access
            .iter()
            .chain(&[("referer", Text), ("user_agent", Text)])
            .map(|(n, t)| col(n, *t))
            .collect(),
        LogFormat::Alb => [
            ("type", Text),
            ("time", TimestampTz),
            ("elb", Text),
            ("client_ip", Text),
            ("client_port", Int32),
            ("target_ip", Text),
            ("target_port", Int32),
            ("request_processing_time", Float64),
            ("target_processing_time", Float64),
            ("response_processing_time", Float64),
            ("elb_status_code", Int32),
            ("target_status_code", Int32),
            ("received_bytes", Int64),
            ("sent_bytes", Int64),
            ("method", Text),
            ("url", Text),
            ("protocol", Text),
            ("user_agent", Text),
            ("ssl_cipher", Text),
            ("ssl_protocol", Text),
            ("target_group_arn", Text),
            ("trace_id", Text),
            ("domain_name", Text),
            ("chosen_cert_arn", Text),
            ("matched_rule_priority", Text),
            ("request_creation_time", TimestampTz),
            ("actions_executed", Text),
            ("redirect_url", Text),
            ("error_reason", Text),
        ]
        .iter()
        .map(|(n, t)| col(n, *t))
        .collect(),
        LogFormat::Cloudtrail => CLOUDTRAIL.iter().map(|(_, n, t)| col(n, *t)).collect(),
        LogFormat::Jsonl | LogFormat::Csv | LogFormat::Parquet => return None,
    })
}

/// CloudTrail record fields: (JSON key, column, type). Objects and arrays
/// are kept as their JSON text.
pub const CLOUDTRAIL: [(&str, &str, ColType); 18] = [
    ("eventVersion", "event_version", ColType::Text),
    ("eventTime", "event_time", ColType::TimestampTz),
    ("eventSource", "event_source", ColType::Text),
    ("eventName", "event_name", ColType::Text),
    ("awsRegion", "aws_region", ColType::Text),
    ("sourceIPAddress", "source_ip_address", ColType::Text),
    ("userAgent", "user_agent", ColType::Text),
    ("errorCode", "error_code", ColType::Text),
    ("errorMessage", "error_message", ColType::Text),
    ("requestID", "request_id", ColType::Text),
    ("eventID", "event_id", ColType::Text),
    ("eventType", "event_type", ColType::Text),
    ("recipientAccountId", "recipient_account_id", ColType::Text),
    ("readOnly", "read_only", ColType::Bool),
    ("userIdentity", "user_identity", ColType::Text),
    ("requestParameters", "request_parameters", ColType::Text),
    ("responseElements", "response_elements", ColType::Text),
    ("resources", "resources", ColType::Text),
];

/// Splits a log line into fields: runs of non-spaces, `"quoted"` fields
/// (backslash escapes kept as written) and `[bracketed]` fields.
fn fields(line: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = line.trim_end_matches(['\r', '\n']);
    loop {
        rest = rest.trim_start_matches(' ');
        let Some(first) = rest.chars().next() else {
            return Ok(out);
        };
        let (field, after) = match first {
            '"' => {
                let body = rest.get(1..).unwrap_or("");
                let mut end = None;
                let mut escaped = false;
                for (i, c) in body.char_indices() {
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => {
                            end = Some(i);
                            break;
                        }
                        _ => escaped = false,
                    }
                }
                let end = end.ok_or("a quoted field is not closed")?;
                (
                    body.get(..end).unwrap_or(""),
                    body.get(end + 1..).unwrap_or(""),
                )
            }
            '[' => {
                let end = rest.find(']').ok_or("a [bracketed] field is not closed")?;
                (
                    rest.get(1..end).unwrap_or(""),
                    rest.get(end + 1..).unwrap_or(""),
                )
            }
            _ => {
                let end = rest.find(' ').unwrap_or(rest.len());
                (rest.get(..end).unwrap_or(""), rest.get(end..).unwrap_or(""))
            }
        };
        out.push(field);
        rest = after;
    }
}

fn text(s: &str) -> Cell<'_> {
    if s == "-" || s.is_empty() {
        Cell::Null
    } else {
        Cell::Text(Cow::Borrowed(s))
    }
}

fn int(s: &str, what: &str) -> Result<Cell<'static>, String> {
    if s == "-" {
        return Ok(Cell::Null);
    }
    s.parse::<i64>()
        .map(Cell::Int)
        .map_err(|_| format!("{what} `{}` is not a number", crate::columns::clip(s)))
}

/// An integer of a 32-bit column: a larger one makes the line malformed.
fn int32(s: &str, what: &str) -> Result<Cell<'static>, String> {
    match int(s, what)? {
        Cell::Int(v) if i32::try_from(v).is_err() => Err(format!("{what} {v} is out of range")),
        c => Ok(c),
    }
}

fn float(s: &str, what: &str) -> Result<Cell<'static>, String> {
    match s {
        "-" | "-1" => Ok(Cell::Null),
        _ => s
            .parse::<f64>()
            .map(Cell::Float)
            .map_err(|_| format!("{what} `{}` is not a number", crate::columns::clip(s))),
    }
}

fn request(r: &str) -> [Cell<'_>; 3] {
    let parts: Vec<&str> = r.splitn(3, ' ').collect();
    match parts.as_slice() {
        [m, p, v] => [text(m), text(p), text(v)],
        [m, p] => [text(m), text(p), Cell::Null],
        _ => [Cell::Null, text(r), Cell::Null],
    }
}

fn access_time(s: &str) -> Result<Cell<'static>, String> {
    DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S %z")
        .map(|t| Cell::Micros(t.timestamp_micros()))
        .map_err(|_| {
            format!(
                "time `{}` is not `DD/Mon/YYYY:HH:MM:SS +ZZZZ`",
                crate::columns::clip(s)
            )
        })
}

fn iso_time(s: &str) -> Result<Cell<'static>, String> {
    if s == "-" {
        return Ok(Cell::Null);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| Cell::Micros(t.timestamp_micros()))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| Cell::Micros(t.and_utc().timestamp_micros()))
        })
        .map_err(|_| format!("time `{}` is not an ISO 8601 time", crate::columns::clip(s)))
}

fn host_port(s: &str) -> Result<[Cell<'_>; 2], String> {
    if s == "-" {
        return Ok([Cell::Null, Cell::Null]);
    }
    let (h, p) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{}` is not HOST:PORT", crate::columns::clip(s)))?;
    Ok([text(h), int32(p, "port")?])
}

/// Parses one line of a common, combined or ALB log.
pub fn parse_line<'a>(format: LogFormat, line: &'a str) -> Result<Vec<Cell<'a>>, String> {
    let f = fields(line)?;
    match format {
        LogFormat::Common | LogFormat::Combined => {
            let want = if format == LogFormat::Common { 7 } else { 9 };
            if f.len() != want {
                return Err(format!("{} fields where the format has {want}", f.len()));
            }
            let g = |i: usize| f.get(i).copied().unwrap_or("");
            let mut cells = vec![text(g(0)), text(g(1)), text(g(2)), access_time(g(3))?];
            cells.extend(request(g(4)));
            cells.push(int32(g(5), "status")?);
            cells.push(int(g(6), "bytes")?);
            if format == LogFormat::Combined {
                cells.push(text(g(7)));
                cells.push(text(g(8)));
            }
            Ok(cells)
        }
        LogFormat::Alb => {
            if f.len() < 25 {
                return Err(format!(
                    "{} fields where an ALB log has at least 25",
                    f.len()
                ));
            }
            let g = |i: usize| f.get(i).copied().unwrap_or("");
            let mut cells = vec![text(g(0)), iso_time(g(1))?, text(g(2))];
            cells.extend(host_port(g(3))?);
            cells.extend(host_port(g(4))?);
            cells.push(float(g(5), "request_processing_time")?);
            cells.push(float(g(6), "target_processing_time")?);
            cells.push(float(g(7), "response_processing_time")?);
            cells.push(int32(g(8), "elb_status_code")?);
            cells.push(int32(g(9), "target_status_code")?);
            cells.push(int(g(10), "received_bytes")?);
            cells.push(int(g(11), "sent_bytes")?);
            cells.extend(request(g(12)));
            for i in 13..=20 {
                cells.push(text(g(i)));
            }
            cells.push(iso_time(g(21))?);
            for i in 22..=24 {
                cells.push(text(g(i)));
            }
            Ok(cells)
        }
        _ => Err("not a line format".into()),
    }
}

/// One CloudTrail record as cells.
pub fn cloudtrail_record(r: &Value) -> Result<Vec<Cell<'static>>, String> {
    let obj = r.as_object().ok_or("a record is not a JSON object")?;
    CLOUDTRAIL
        .iter()
        .map(|(key, _, ty)| match (obj.get(*key), ty) {
            (None | Some(Value::Null), _) => Ok(Cell::Null),
            (Some(Value::String(s)), ColType::TimestampTz) => iso_time(s),
            (Some(Value::Bool(b)), ColType::Bool) => Ok(Cell::Bool(*b)),
            (Some(Value::String(s)), ColType::Bool) => Ok(Cell::Bool(s == "true")),
            (Some(Value::String(s)), ColType::Text) => Ok(Cell::Text(Cow::Owned(s.clone()))),
            (Some(v), ColType::Text) => Ok(Cell::Text(Cow::Owned(v.to_string()))),
            (Some(v), _) => Err(format!(
                "`{key}` holds `{}`, which does not fit",
                crate::columns::clip(&v.to_string())
            )),
        })
        .collect()
}

/// The column type a JSON value suggests (jsonl inference).
pub fn json_type(v: &Value) -> Option<ColType> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some(ColType::Bool),
        Value::Number(n) if n.is_i64() => Some(ColType::Int64),
        Value::Number(_) => Some(ColType::Float64),
        _ => Some(ColType::Text),
    }
}

/// A JSON value as a cell of a column of type `ty`.
pub fn json_cell(v: Option<&Value>, ty: ColType) -> Result<Cell<'static>, String> {
    Ok(match (v, ty) {
        (None | Some(Value::Null), _) => Cell::Null,
        (Some(Value::Bool(b)), ColType::Bool) => Cell::Bool(*b),
        (Some(Value::Number(n)), ColType::Int64) if n.is_i64() => {
            Cell::Int(n.as_i64().unwrap_or_default())
        }
        (Some(Value::Number(n)), ColType::Float64) => Cell::Float(n.as_f64().unwrap_or_default()),
        (Some(Value::String(s)), ColType::Text) => Cell::Text(Cow::Owned(s.clone())),
        (Some(v @ (Value::Object(_) | Value::Array(_))), ColType::Text) => {
            Cell::Text(Cow::Owned(v.to_string()))
        }
        (Some(v), _) => {
            return Err(format!(
                "`{}` does not fit a {ty:?} column",
                crate::columns::clip(&v.to_string())
            ));
        }
    })
}

/// Splits one CSV record (RFC 4180 quoting; no newlines inside fields).
pub fn csv_fields(line: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        if let Some(body) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = body.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if chars.peek().is_some_and(|(_, n)| *n == '"') {
                        value.push('"');
                        chars.next();
                    } else {
                        end = Some(i);
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            let end = end.ok_or("a quoted field is not closed")?;
            out.push(Cow::Owned(value));
            rest = body.get(end + 1..).unwrap_or("");
            match rest.strip_prefix(',') {
                Some(r) => rest = r,
                None if rest.is_empty() => return Ok(out),
                None => return Err("text after a closing quote".into()),
            }
        } else {
            match rest.find(',') {
                Some(i) => {
                    out.push(Cow::Borrowed(rest.get(..i).unwrap_or("")));
                    rest = rest.get(i + 1..).unwrap_or("");
                }
                None => {
                    out.push(Cow::Borrowed(rest));
                    return Ok(out);
                }
            }
        }
    }
}

/// The narrowest type of a CSV value (empty means NULL: no type).
pub fn csv_type(v: &str) -> Option<ColType> {
    if v.is_empty() {
        None
    } else if v.parse::<i64>().is_ok() {
        Some(ColType::Int64)
    } else if v.parse::<f64>().is_ok() {
        Some(ColType::Float64)
    } else if v == "true" || v == "false" {
        Some(ColType::Bool)
    } else {
        Some(ColType::Text)
    }
}

/// A CSV value as a cell of a column of type `ty`.
pub fn csv_cell(v: Cow<'_, str>, ty: ColType) -> Result<Cell<'_>, String> {
    if v.is_empty() {
        return Ok(Cell::Null);
    }
    Ok(match ty {
        ColType::Int64 => Cell::Int(
            v.parse()
                .map_err(|_| format!("`{}` is not an integer", crate::columns::clip(&v)))?,
        ),
        ColType::Float64 => Cell::Float(
            v.parse()
                .map_err(|_| format!("`{}` is not a number", crate::columns::clip(&v)))?,
        ),
        ColType::Bool => Cell::Bool(match v.as_ref() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(format!(
                    "`{}` is not true or false",
                    crate::columns::clip(&v)
                ));
            }
        }),
        _ => Cell::Text(v),
    })
}

/// Widens two inferred types to one that holds both.
pub fn widen(a: Option<ColType>, b: Option<ColType>) -> Option<ColType> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(x), Some(y)) if x == y => Some(x),
        (Some(ColType::Int64), Some(ColType::Float64))
        | (Some(ColType::Float64), Some(ColType::Int64)) => Some(ColType::Float64),
        _ => Some(ColType::Text),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        reason = "test code: a panic is a failed test"
    )]
    use super::*;

    #[test]
    fn combined_lines_parse_into_typed_cells() {
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "http://x/" "Mozilla/4.08 [en] \"q\"""#;
        let c = parse_line(LogFormat::Combined, line).unwrap();
        assert_eq!(c.len(), 11);
        assert_eq!(c[0], Cell::Text("127.0.0.1".into()));
        assert_eq!(c[1], Cell::Null);
        assert_eq!(c[3], Cell::Micros(971_211_336_000_000));
        assert_eq!(c[4], Cell::Text("GET".into()));
        assert_eq!(c[7], Cell::Int(200));
        assert_eq!(c[10], Cell::Text(r#"Mozilla/4.08 [en] \"q\""#.into()));
        assert!(parse_line(LogFormat::Common, "garbage").is_err());
        assert!(parse_line(LogFormat::Common, r#"h - - [bad] "GET / HTTP/1.1" 200 1"#).is_err());
        assert!(
            parse_line(
                LogFormat::Common,
                r#"h - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1 200 1"#
            )
            .is_err()
        );
    }

    #[test]
    fn csv_records_split_with_quotes() {
        let f = csv_fields(r#"a,"b,c","d ""e""",,"#).unwrap();
        assert_eq!(f, ["a", "b,c", "d \"e\"", "", ""]);
        assert!(csv_fields(r#""open"#).is_err());
    }
}
