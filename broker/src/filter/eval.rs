//! Evaluation with Java's three-valued logic and its comparison rules: values of different
//! types are converted towards each other as `ComparisonExpression.__compare` does (with
//! string conversion on, as the broker always compiles), and a failed conversion is an
//! error, which makes the message not match.

use std::cmp::Ordering;
use std::fmt;

use super::parser::{Expr, Order, TextTest};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(String),
}

impl Value {
    pub(crate) fn is_number(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Long(_) | Value::Double(_))
    }

    /// Java's `equals`: same type and value (doubles by bits, so NaN equals NaN).
    fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Double(a), Value::Double(b)) => a.to_bits() == b.to_bits(),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Long(l) => write!(f, "{l}"),
            Value::Double(d) => write!(f, "{d:?}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// What Java throws while evaluating; the message is for logs only.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError(String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn not_a_number(s: &str) -> EvalError {
    EvalError(format!("java.lang.NumberFormatException: For input string: \"{s}\""))
}

fn java_int(s: &str) -> Result<i32, EvalError> {
    s.parse().map_err(|_| not_a_number(s))
}

fn java_long(s: &str) -> Result<i64, EvalError> {
    s.parse().map_err(|_| not_a_number(s))
}

/// `Double.valueOf`: surrounding control/space characters ignored, an optional f/F/d/D
/// suffix, `NaN` and `Infinity` spelled as Java spells them (hex floats are not accepted).
fn java_double(s: &str) -> Result<f64, EvalError> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let body = t
        .strip_suffix(['f', 'F', 'd', 'D'])
        .filter(|b| !b.is_empty())
        .unwrap_or(t);
    let unsigned = body.strip_prefix(['+', '-']).unwrap_or(body);
    let negative = body.starts_with('-');
    match unsigned {
        "NaN" if body.len() == t.len() => return Ok(f64::NAN),
        "Infinity" if body.len() == t.len() => {
            return Ok(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        _ => {}
    }
    let well_formed = !unsigned.is_empty()
        && unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && unsigned.chars().any(|c| c.is_ascii_digit());
    if !well_formed {
        return Err(not_a_number(s));
    }
    body.parse().map_err(|_| not_a_number(s))
}

/// `Boolean.valueOf(String)`.
fn java_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

fn sign(o: Ordering) -> i32 {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

/// `Double.compare`: NaN above everything and equal to itself, -0.0 below 0.0.
fn double_cmp(a: f64, b: f64) -> i32 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => -1,
        (false, false) => sign(a.total_cmp(&b)),
    }
}

/// `ComparisonExpression.__compare` with string conversion on: the sign of comparing `l`
/// with `r`, converting one towards the other's type; pairs Java cannot convert compare as
/// -1 (less), failed string conversions are errors.
pub(crate) fn compare(l: &Value, r: &Value) -> Result<i32, EvalError> {
    use Value::*;
    Ok(match (l, r) {
        (Bool(a), Bool(b)) => sign(a.cmp(b)),
        (Int(a), Int(b)) => sign(a.cmp(b)),
        (Long(a), Long(b)) => sign(a.cmp(b)),
        (Double(a), Double(b)) => double_cmp(*a, *b),
        // String.compareTo orders by UTF-16 units.
        (Str(a), Str(b)) => sign(a.encode_utf16().cmp(b.encode_utf16())),
        // Java casts the Boolean to String here and fails.
        (Bool(_), Str(_)) => {
            return Err(EvalError(
                "java.lang.ClassCastException: Boolean cannot be cast to String".into(),
            ));
        }
        (Int(a), Long(b)) => sign((*a as i64).cmp(b)),
        (Int(a), Double(b)) => double_cmp(*a as f64, *b),
        (Int(a), Str(b)) => sign(a.cmp(&java_int(b)?)),
        (Long(a), Int(b)) => sign(a.cmp(&(*b as i64))),
        (Long(a), Double(b)) => double_cmp(*a as f64, *b),
        (Long(a), Str(b)) => sign(a.cmp(&java_long(b)?)),
        (Double(a), Int(b)) => double_cmp(*a, *b as f64),
        (Double(a), Long(b)) => double_cmp(*a, *b as f64),
        (Double(a), Str(b)) => double_cmp(*a, java_double(b)?),
        (Str(a), Bool(b)) => sign(java_bool(a).cmp(b)),
        (Str(a), Int(b)) => sign(java_int(a)?.cmp(b)),
        (Str(a), Long(b)) => sign(java_long(a)?.cmp(b)),
        (Str(a), Double(b)) => double_cmp(java_double(a)?, *b),
        _ => -1,
    })
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn truth(e: &Expr, p: Lookup) -> Result<Option<bool>, EvalError> {
    match evaluate(e, p)? {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(other) => Err(EvalError(format!(
            "java.lang.ClassCastException: {other} is not a Boolean"
        ))),
    }
}

fn boolean(b: Option<bool>) -> Option<Value> {
    b.map(Value::Bool)
}

pub(crate) fn evaluate(e: &Expr, p: Lookup) -> Result<Option<Value>, EvalError> {
    Ok(match e {
        Expr::Constant(v) => Some(v.clone()),
        Expr::Flag(b) => boolean(*b),
        Expr::Property(name) => p(name).map(Value::Str),
        Expr::Negate(inner) => match evaluate(inner, p)? {
            Some(Value::Int(i)) => Some(Value::Int(i.wrapping_neg())),
            Some(Value::Long(l)) => Some(Value::Long(l.wrapping_neg())),
            Some(Value::Double(d)) => Some(Value::Double(-d)),
            _ => None,
        },
        Expr::Not(inner) => boolean(truth(inner, p)?.map(|b| !b)),
        Expr::BooleanCast(inner) => match evaluate(inner, p)? {
            None => None,
            Some(Value::Bool(b)) => Some(Value::Bool(b)),
            Some(_) => Some(Value::Bool(false)),
        },
        Expr::And(l, r) => {
            let lv = truth(l, p)?;
            if lv == Some(false) {
                return Ok(Some(Value::Bool(false)));
            }
            let rv = truth(r, p)?;
            if rv == Some(false) {
                return Ok(Some(Value::Bool(false)));
            }
            if lv.is_none() || rv.is_none() {
                None
            } else {
                Some(Value::Bool(true))
            }
        }
        Expr::Or(l, r) => {
            let lv = truth(l, p)?;
            if lv == Some(true) {
                return Ok(Some(Value::Bool(true)));
            }
            let rv = truth(r, p)?;
            if rv == Some(true) {
                return Ok(Some(Value::Bool(true)));
            }
            if lv.is_none() || rv.is_none() {
                None
            } else {
                Some(Value::Bool(false))
            }
        }
        Expr::Equal(l, r) => {
            let lv = evaluate(l, p)?;
            let rv = evaluate(r, p)?;
            match (lv, rv) {
                (None, None) => Some(Value::Bool(true)),
                (None, Some(_)) => None,
                (Some(_), None) => Some(Value::Bool(false)),
                (Some(a), Some(b)) => Some(Value::Bool(a.same(&b) || compare(&a, &b)? == 0)),
            }
        }
        Expr::Ordered(order, l, r) => {
            let Some(lv) = evaluate(l, p)? else { return Ok(None) };
            let Some(rv) = evaluate(r, p)? else { return Ok(None) };
            let c = match (&lv, &rv) {
                // Two strings are only ordered as numbers.
                (Value::Str(a), Value::Str(b)) => match (java_double(a), java_double(b)) {
                    (Ok(a), Ok(b)) => double_cmp(a, b),
                    _ => {
                        return Err(EvalError(format!(
                            "It's illegal to compare string by '>=', '>', '<', '<='. lv={a}, rv={b}"
                        )))
                    }
                },
                _ => compare(&lv, &rv)?,
            };
            Some(Value::Bool(match order {
                Order::Gt => c > 0,
                Order::Ge => c >= 0,
                Order::Lt => c < 0,
                Order::Le => c <= 0,
            }))
        }
        Expr::In {
            property,
            list,
            negated,
        } => p(property).map(|v| Value::Bool(list.contains(&v) ^ negated)),
        Expr::Text {
            test,
            operand,
            search,
            negated,
        } => {
            if search.is_empty() {
                return Ok(Some(Value::Bool(false)));
            }
            match evaluate(operand, p)? {
                Some(Value::Str(s)) => {
                    let found = match test {
                        TextTest::Contains => s.contains(search.as_str()),
                        TextTest::StartsWith => s.starts_with(search.as_str()),
                        TextTest::EndsWith => s.ends_with(search.as_str()),
                    };
                    Some(Value::Bool(found ^ negated))
                }
                _ => Some(Value::Bool(false)),
            }
        }
    })
}
