//! Java `.properties` text: the format of `broker.conf`, namesrv config files, and the
//! bodies of UPDATE_*_CONFIG / GET_*_CONFIG requests.

/// Parses properties text into (key, value) pairs in file order. Supports `#`/`!`
/// comments, `=`, `:` or whitespace separators, backslash line continuations and the
/// usual escapes; later duplicates win when the pairs are collected into a map.
pub fn parse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if logical.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!')) {
            continue;
        }
        logical.push_str(trimmed);
        // An odd number of trailing backslashes continues the line. Counted in this line
        // alone: what it continues ends in an even number (its odd last one was dropped),
        // so the parity is the same, and counting through the whole logical line made a
        // body of lines like `\\\` quadratic (64,000 of them, 256 KB, took 2.4 s).
        let trailing = trimmed.chars().rev().take_while(|&c| c == '\\').count();
        if trailing % 2 == 1 {
            logical.pop();
            if lines.clone().next().is_some() {
                continue;
            }
        }
        if let Some(pair) = split_pair(&logical) {
            out.push(pair);
        }
        logical.clear();
    }
    out
}

fn split_pair(line: &str) -> Option<(String, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let mut key_end = chars.len();
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '=' | ':' | ' ' | '\t' => {
                key_end = i;
                break;
            }
            _ => i += 1,
        }
    }
    let key: String = chars[..key_end.min(chars.len())].iter().collect();
    let mut j = key_end;
    while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
        j += 1;
    }
    if j < chars.len() && (chars[j] == '=' || chars[j] == ':') {
        j += 1;
        while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
            j += 1;
        }
    }
    let value: String = chars[j.min(chars.len())..].iter().collect();
    let key = unescape(&key);
    if key.is_empty() {
        return None;
    }
    Some((key, unescape(&value)))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => out.push(decoded),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Writes pairs as `key=value` lines, as Java's `MixAll.properties2String` does.
pub fn to_string<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        out.push_str(key.as_ref());
        out.push('=');
        out.push_str(value.as_ref());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_java_properties() {
        let text = "# comment\n! other\nbrokerClusterName = DefaultCluster\nbrokerName:broker-a\nbrokerId 0\n\
                    namesrvAddr=127.0.0.1:9876;\\\n   127.0.0.2:9876\npath=C\\:\\\\data\\u0041\nempty=\n";
        let pairs = parse(text);
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("brokerClusterName"), Some("DefaultCluster"));
        assert_eq!(get("brokerName"), Some("broker-a"));
        assert_eq!(get("brokerId"), Some("0"));
        assert_eq!(get("namesrvAddr"), Some("127.0.0.1:9876;127.0.0.2:9876"));
        assert_eq!(get("path"), Some("C:\\dataA"));
        assert_eq!(get("empty"), Some(""));
    }

    #[test]
    fn continuation_backslashes_are_counted_per_line() {
        // Odd: continues; even: escaped backslashes, the line ends (also on a line that is
        // only backslashes, after a continued one).
        let pairs = parse("a=1\\\\\nb=2\\\\\\\n   x\\\\\\\n\\\\\ny\nc=3\\");
        assert_eq!(
            pairs,
            [
                ("a".to_string(), "1\\".to_string()),
                ("b".to_string(), "2\\x\\\\".to_string()),
                ("y".to_string(), String::new()),
                ("c".to_string(), "3".to_string()),
            ]
        );
        // 100,000 continued lines of three backslashes: one key of 100,000 backslashes,
        // parsed in linear time (counting through the whole logical line took minutes).
        let started = std::time::Instant::now();
        let pairs = parse(&"\\\\\\\n".repeat(100_000));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].0, "\\".repeat(100_000));
        assert_eq!(pairs[0].1, "");
    }
}
