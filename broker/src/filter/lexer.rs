//! Tokenizer for the SQL92 selector language: the token kinds and the longest-match rules of
//! the broker's JavaCC grammar (`SelectorParser.jj`), produced one token at a time so that,
//! like the Java parser, text after the last token the grammar looks at is never examined.

use super::FilterError;

/// What a token is. Keyword and literal payloads keep what the parser needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Eof,
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    Contains,
    StartsWith,
    EndsWith,
    /// Integer literal text, possibly with a trailing `l`/`L`.
    Decimal(String),
    /// Floating literal text.
    Float(String),
    /// String literal, already decoded (`''` turned into `'`).
    Str(String),
    Id(String),
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    LParen,
    Comma,
    RParen,
    Plus,
    Minus,
}

impl Tok {
    /// How JavaCC's token table names the kind (used in error messages).
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Tok::Eof => "<EOF>",
            Tok::Not => "\"NOT\"",
            Tok::And => "\"AND\"",
            Tok::Or => "\"OR\"",
            Tok::Between => "\"BETWEEN\"",
            Tok::In => "\"IN\"",
            Tok::True => "\"TRUE\"",
            Tok::False => "\"FALSE\"",
            Tok::Null => "\"NULL\"",
            Tok::Is => "\"IS\"",
            Tok::Contains => "\"CONTAINS\"",
            Tok::StartsWith => "\"STARTSWITH\"",
            Tok::EndsWith => "\"ENDSWITH\"",
            Tok::Decimal(_) => "<DECIMAL_LITERAL>",
            Tok::Float(_) => "<FLOATING_POINT_LITERAL>",
            Tok::Str(_) => "<STRING_LITERAL>",
            Tok::Id(_) => "<ID>",
            Tok::Eq => "\"=\"",
            Tok::Ne => "\"<>\"",
            Tok::Gt => "\">\"",
            Tok::Ge => "\">=\"",
            Tok::Lt => "\"<\"",
            Tok::Le => "\"<=\"",
            Tok::LParen => "\"(\"",
            Tok::Comma => "\",\"",
            Tok::RParen => "\")\"",
            Tok::Plus => "\"+\"",
            Tok::Minus => "\"-\"",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    /// The source text of the token.
    pub image: String,
    pub line: u32,
    pub column: u32,
}

pub(crate) struct Lexer {
    chars: Vec<char>,
    /// 1-based (line, column) of every char, counted as JavaCC's SimpleCharStream does
    /// (tab stops of 8, CR, LF and CRLF end a line, UTF-16 units).
    pos: Vec<(u32, u32)>,
    at: usize,
}

fn is_id_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$'
}

fn is_id_part(c: char) -> bool {
    is_id_start(c) || c.is_ascii_digit()
}

fn keyword(word: &str) -> Option<Tok> {
    const KEYWORDS: [(&str, Tok); 12] = [
        ("NOT", Tok::Not),
        ("AND", Tok::And),
        ("OR", Tok::Or),
        ("BETWEEN", Tok::Between),
        ("IN", Tok::In),
        ("TRUE", Tok::True),
        ("FALSE", Tok::False),
        ("NULL", Tok::Null),
        ("IS", Tok::Is),
        ("CONTAINS", Tok::Contains),
        ("STARTSWITH", Tok::StartsWith),
        ("ENDSWITH", Tok::EndsWith),
    ];
    KEYWORDS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(word))
        .map(|(_, t)| t.clone())
}

impl Lexer {
    pub(crate) fn new(text: &str) -> Lexer {
        let chars: Vec<char> = text.chars().collect();
        let mut pos = Vec::with_capacity(chars.len() + 1);
        let (mut line, mut column) = (1u32, 0u32);
        let (mut after_cr, mut after_lf) = (false, false);
        for &c in &chars {
            column += 1;
            if after_lf {
                after_lf = false;
                line += 1;
                column = 1;
            } else if after_cr {
                after_cr = false;
                if c == '\n' {
                    after_lf = true;
                } else {
                    line += 1;
                    column = 1;
                }
            }
            match c {
                '\r' => after_cr = true,
                '\n' => after_lf = true,
                '\t' => {
                    column -= 1;
                    column += 8 - (column % 8);
                }
                _ => {}
            }
            pos.push((line, column));
            // A char outside the BMP is two UTF-16 units in Java's count.
            if c.len_utf16() == 2 {
                column += 1;
            }
        }
        // The end of input sits one column after the last char.
        let end = match pos.last() {
            Some(&(l, c)) => (l, c + 1),
            None => (1, 1),
        };
        pos.push(end);
        Lexer { chars, pos, at: 0 }
    }

    fn peek_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars[from..to].iter().collect()
    }

    fn lexical_error(&self, at: usize, after_from: usize) -> FilterError {
        let (line, column) = self.pos[at.min(self.pos.len() - 1)];
        let encountered = match self.peek_at(at) {
            None => "<EOF> ".to_string(),
            Some(c) => format!("\"{}\" ({}), ", escape(&c.to_string()), c as u32),
        };
        FilterError::lexical(format!(
            "Lexical error at line {line}, column {column}.  Encountered: {encountered}after : \"{}\"",
            escape(&self.text(after_from, at.min(self.chars.len())))
        ))
    }

    /// Length of a `--` comment starting at `i` (which must hold `--`), including its line
    /// terminator; `None` when no terminator follows, in which case it is no comment at all.
    fn line_comment_len(&self, i: usize) -> Option<usize> {
        let mut j = i + 2;
        while let Some(c) = self.peek_at(j) {
            if c == '\n' {
                return Some(j + 1 - i);
            }
            if c == '\r' {
                return Some(if self.peek_at(j + 1) == Some('\n') {
                    j + 2 - i
                } else {
                    j + 1 - i
                });
            }
            j += 1;
        }
        None
    }

    /// Length of a `/* ... */` comment starting at `i`, `None` when unterminated.
    fn block_comment_len(&self, i: usize) -> Option<usize> {
        let mut j = i + 2;
        while j + 1 < self.chars.len() + 1 {
            match self.peek_at(j) {
                None => return None,
                Some('*') if self.peek_at(j + 1) == Some('/') => return Some(j + 2 - i),
                Some(_) => j += 1,
            }
        }
        None
    }

    /// Skips white space and comments.
    fn skip_ignorable(&mut self) {
        loop {
            match self.peek_at(self.at) {
                Some(' ' | '\t' | '\n' | '\r' | '\u{c}') => self.at += 1,
                Some('-') if self.peek_at(self.at + 1) == Some('-') => match self.line_comment_len(self.at) {
                    Some(n) => self.at += n,
                    None => return,
                },
                Some('/') if self.peek_at(self.at + 1) == Some('*') => match self.block_comment_len(self.at) {
                    Some(n) => self.at += n,
                    None => return,
                },
                _ => return,
            }
        }
    }

    /// Longest numeric token at `i` (the char there is a digit or '.'): its kind and length.
    fn number_at(&self, i: usize) -> Option<(bool, usize)> {
        let digits = |mut j: usize| {
            while self.peek_at(j).is_some_and(|c| c.is_ascii_digit()) {
                j += 1;
            }
            j
        };
        // An exponent starting at j: its end, if well formed.
        let exponent = |j: usize| -> Option<usize> {
            if !matches!(self.peek_at(j), Some('e' | 'E')) {
                return None;
            }
            let mut k = j + 1;
            if matches!(self.peek_at(k), Some('+' | '-')) {
                k += 1;
            }
            let end = digits(k);
            (end > k).then_some(end)
        };
        // Integer literal: "0", or a non-zero digit, digits and an optional l/L.
        let decimal = match self.peek_at(i) {
            Some('0') => Some(i + 1),
            Some('1'..='9') => {
                let end = digits(i + 1);
                Some(if matches!(self.peek_at(end), Some('l' | 'L')) {
                    end + 1
                } else {
                    end
                })
            }
            _ => None,
        };
        // Floating literal: the longest of its three shapes.
        let mut float = None;
        let int_end = digits(i);
        if int_end > i {
            if self.peek_at(int_end) == Some('.') {
                let frac_end = digits(int_end + 1);
                float = Some(exponent(frac_end).unwrap_or(frac_end));
            } else if let Some(e) = exponent(int_end) {
                float = Some(e);
            }
        } else if self.peek_at(i) == Some('.') {
            let frac_end = digits(i + 1);
            if frac_end > i + 1 {
                float = Some(exponent(frac_end).unwrap_or(frac_end));
            }
        }
        match (decimal, float) {
            (Some(d), Some(f)) if f > d => Some((true, f - i)),
            (Some(d), _) => Some((false, d - i)),
            (None, Some(f)) => Some((true, f - i)),
            (None, None) => None,
        }
    }

    /// The next token; lexical errors are reported as JavaCC's token manager would.
    pub(crate) fn next_token(&mut self) -> Result<Token, FilterError> {
        self.skip_ignorable();
        let start = self.at;
        let (line, column) = self.pos[start];
        let Some(c) = self.peek_at(start) else {
            return Ok(Token {
                tok: Tok::Eof,
                image: String::new(),
                line,
                column,
            });
        };
        let next = self.peek_at(start + 1);
        let (tok, len) = match c {
            '=' => (Tok::Eq, 1),
            '<' if next == Some('>') => (Tok::Ne, 2),
            '<' if next == Some('=') => (Tok::Le, 2),
            '<' => (Tok::Lt, 1),
            '>' if next == Some('=') => (Tok::Ge, 2),
            '>' => (Tok::Gt, 1),
            '(' => (Tok::LParen, 1),
            ',' => (Tok::Comma, 1),
            ')' => (Tok::RParen, 1),
            '+' => (Tok::Plus, 1),
            '-' => (Tok::Minus, 1),
            '\'' => {
                let mut decoded = String::new();
                let mut j = start + 1;
                loop {
                    match self.peek_at(j) {
                        None => return Err(self.lexical_error(j, start)),
                        Some('\'') if self.peek_at(j + 1) == Some('\'') => {
                            decoded.push('\'');
                            j += 2;
                        }
                        Some('\'') => break,
                        Some(ch) => {
                            decoded.push(ch);
                            j += 1;
                        }
                    }
                }
                (Tok::Str(decoded), j + 1 - start)
            }
            c if is_id_start(c) => {
                let mut j = start + 1;
                while self.peek_at(j).is_some_and(is_id_part) {
                    j += 1;
                }
                let word = self.text(start, j);
                (keyword(&word).unwrap_or(Tok::Id(word)), j - start)
            }
            c if c.is_ascii_digit() || c == '.' => match self.number_at(start) {
                Some((is_float, len)) => {
                    let text = self.text(start, start + len);
                    (if is_float { Tok::Float(text) } else { Tok::Decimal(text) }, len)
                }
                None => return Err(self.lexical_error(start + 1, start)),
            },
            '/' => return Err(self.lexical_error(start + 1, start)),
            _ => return Err(self.lexical_error(start, start)),
        };
        self.at = start + len;
        Ok(Token {
            tok,
            image: self.text(start, start + len),
            line,
            column,
        })
    }
}

/// Escapes control characters the way JavaCC's `addEscapes` does.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                for unit in c.encode_utf16(&mut [0u16; 2]) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
            c => out.push(c),
        }
    }
    out
}
