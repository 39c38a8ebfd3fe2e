//! HTML building blocks: escaping, the page frame, tables and times.

use std::fmt::Write;

use remoting::http::percent_encode;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline would garble the page.
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A link to `path?name=<name>` showing `name`.
pub fn link(path: &str, name: &str) -> String {
    format!(r#"<a href="{path}?name={}">{}</a>"#, percent_encode(name), esc(name))
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS.mmm` UTC ("-" for 0 or less).
pub fn time(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// A rate as the tables show it.
pub fn rate(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.2}"),
        _ => "-".into(),
    }
}

/// A table with `headers` and already-escaped cells.
pub fn table(class: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(r#"<table class="{class}"><thead><tr>"#);
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            out,
            r#"<tr><td colspan="{}" class="none">none</td></tr>"#,
            headers.len()
        );
    }
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// Key/value rows (values already escaped).
pub fn facts(rows: &[(&str, String)]) -> String {
    let mut out = String::from(r#"<table class="facts"><tbody>"#);
    for (k, v) in rows {
        let _ = write!(out, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    }
    out.push_str("</tbody></table>");
    out
}

/// The page frame: header, navigation (`active` marked), `body`, and the script.
pub fn page(title: &str, active: &str, subtitle: &str, body: &str) -> String {
    let mut nav = String::new();
    for (href, label) in [
        ("/", "Cluster"),
        ("/topics", "Topics"),
        ("/groups", "Consumer groups"),
        ("/messages", "Messages"),
        ("/plots", "Live plots"),
    ] {
        let class = if href == active { r#" class="active""# } else { "" };
        let _ = write!(nav, r#"<a href="{href}"{class}>{label}</a>"#);
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - RocketMQ console</title><link rel="stylesheet" href="/static/console.css"></head>
<body><header><span class="brand">RocketMQ console</span><span class="sub">{subtitle}</span><nav>{nav}</nav></header>
<main><h1>{title}</h1>
{body}
</main><script src="/static/console.js"></script></body></html>
"#,
        title = esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_times() {
        assert_eq!(
            esc(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(esc("a\u{1b}[0m"), "a\\u{1b}[0m");
        assert_eq!(time(0), "-");
        assert_eq!(time(1_700_000_000_123), "2023-11-14 22:13:20.123");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00.000");
    }
}
