//! Output helpers (aligned tables, what a command prints), time formatting in local time as
//! mqadmin does, and the parsing quirks of mqadmin's options.

use std::fmt::Write as _;

use anyhow::{anyhow, Result};
use serde_json::Value;

/// What a command produced: the text for people and the JSON document for scripts.
pub struct Output {
    pub text: String,
    pub json: Value,
}

impl Output {
    pub fn new(text: String, json: Value) -> Output {
        Output { text, json }
    }
}

/// A table whose columns are as wide as their widest cell; headers start with '#', as
/// mqadmin's do.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns aligned to the right (numbers that mqadmin right-aligns).
    right: Vec<bool>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            right: vec![false; headers.len()],
        }
    }

    pub fn right_align(mut self, columns: &[usize]) -> Table {
        for &c in columns {
            self.right[c] = true;
        }
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(n) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate().take(n) {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                let last = i + 1 == n;
                if self.right[i] {
                    text.push_str(&" ".repeat(pad));
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    if !last {
                        text.push_str(&" ".repeat(pad));
                    }
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.headers, &mut out);
        for row in &self.rows {
            line(row, &mut out);
        }
        out
    }
}

/// `key=value` lines with the keys padded, as mqadmin prints configs (`%-50s=  %s`).
pub fn config_lines(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        let _ = writeln!(out, "{k:<50}=  {v}");
    }
    out
}

/// Java's `Boolean.parseBoolean`: "true" in any case, everything else is false.
pub fn java_bool(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("true")
}

pub fn now_millis() -> i64 {
    remoting::protocol::topic::now_millis()
}

struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

fn local(millis: i64) -> Civil {
    let secs = millis.div_euclid(1000) as libc::time_t;
    // SAFETY: localtime_r writes only into the tm we pass.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    Civil {
        year: tm.tm_year as i64 + 1900,
        month: tm.tm_mon as i64 + 1,
        day: tm.tm_mday as i64,
        hour: tm.tm_hour as i64,
        minute: tm.tm_min as i64,
        second: tm.tm_sec as i64,
    }
}

/// `yyyy-MM-dd HH:mm:ss,SSS` in local time (Java's `UtilAll.timeMillisToHumanString2`).
pub fn human_millis(millis: i64) -> String {
    let c = local(millis);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        millis.rem_euclid(1000)
    )
}

/// `yyyy-MM-dd HH:mm:ss` in local time (`UtilAll.YYYY_MM_DD_HH_MM_SS`).
pub fn human_seconds(millis: i64) -> String {
    let c = local(millis);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// A timestamp option as mqadmin reads it: milliseconds since the epoch, or local time as
/// `yyyy-MM-dd#HH:mm:ss:SSS`.
pub fn parse_timestamp(text: &str) -> Result<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || anyhow!("bad timestamp {text:?}: expected milliseconds or yyyy-MM-dd#HH:mm:ss:SSS");
    let (date, time) = text.split_once('#').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    if d.len() != 3 || t.len() != 4 {
        return Err(bad());
    }
    // SAFETY: mktime reads and normalizes the tm we pass.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = (d[0] - 1900) as i32;
    tm.tm_mon = (d[1] - 1) as i32;
    tm.tm_mday = d[2] as i32;
    tm.tm_hour = t[0] as i32;
    tm.tm_min = t[1] as i32;
    tm.tm_sec = t[2] as i32;
    tm.tm_isdst = -1;
    let secs = unsafe { libc::mktime(&mut tm) };
    if secs == -1 {
        return Err(bad());
    }
    Ok(secs as i64 * 1000 + t[3])
}

/// Splits a `;`-separated address list.
pub fn split_addrs(text: &str) -> Vec<String> {
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}
