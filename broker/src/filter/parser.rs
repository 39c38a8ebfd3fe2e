//! Recursive descent over the selector grammar, one token of lookahead (two where the
//! grammar says LOOKAHEAD(2)), building the expression tree and applying the checks Java's
//! expression factories make while the tree is built.

use std::fmt;

use super::eval::{compare, Value};
use super::lexer::{escape, Lexer, Tok, Token};
use super::FilterError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Order {
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TextTest {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone)]
pub(crate) enum Expr {
    /// A string or number literal (never boolean: those are `Flag`).
    Constant(Value),
    /// TRUE, FALSE or NULL: constants that are also boolean expressions.
    Flag(Option<bool>),
    Property(String),
    Negate(Box<Expr>),
    Not(Box<Expr>),
    /// A bare property used as a condition: TRUE only if its value is the boolean TRUE,
    /// which a property (always a string) never is.
    BooleanCast(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Equal(Box<Expr>, Box<Expr>),
    Ordered(Order, Box<Expr>, Box<Expr>),
    In {
        property: String,
        list: Vec<String>,
        negated: bool,
    },
    Text {
        test: TextTest,
        operand: Box<Expr>,
        search: String,
        negated: bool,
    },
}

impl Expr {
    /// Java's `BooleanExpression`: what can stand where a condition is expected.
    fn is_boolean(&self) -> bool {
        !matches!(self, Expr::Constant(_) | Expr::Property(_) | Expr::Negate(_))
    }

    fn is_constant(&self) -> bool {
        matches!(self, Expr::Constant(_) | Expr::Flag(_))
    }

    fn constant_value(&self) -> Option<Option<Value>> {
        match self {
            Expr::Constant(v) => Some(Some(v.clone())),
            Expr::Flag(b) => Some(b.map(Value::Bool)),
            _ => None,
        }
    }
}

/// Roughly Java's `toString` of each expression, for error messages.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Constant(Value::Str(s)) => write!(f, "'{}'", s.replace('\'', "''")),
            Expr::Constant(v) => write!(f, "{v}"),
            Expr::Flag(None) => f.write_str("NULL"),
            Expr::Flag(Some(true)) => f.write_str("TRUE"),
            Expr::Flag(Some(false)) => f.write_str("FALSE"),
            Expr::Property(name) => f.write_str(name),
            Expr::Negate(e) => write!(f, "(- {e})"),
            Expr::Not(e) => write!(f, "(NOT {e})"),
            Expr::BooleanCast(e) => write!(f, "{e}"),
            Expr::And(l, r) => write!(f, "({l} && {r})"),
            Expr::Or(l, r) => write!(f, "({l} || {r})"),
            Expr::Equal(l, r) => write!(f, "({l} == {r})"),
            Expr::Ordered(o, l, r) => {
                let sym = match o {
                    Order::Gt => ">",
                    Order::Ge => ">=",
                    Order::Lt => "<",
                    Order::Le => "<=",
                };
                write!(f, "({l} {sym} {r})")
            }
            Expr::In {
                property,
                list,
                negated,
            } => {
                write!(
                    f,
                    "{property} {}IN ( {} )",
                    if *negated { "NOT " } else { "" },
                    list.join(", ")
                )
            }
            Expr::Text {
                test,
                operand,
                search,
                negated,
            } => {
                let sym = match test {
                    TextTest::Contains => "CONTAINS",
                    TextTest::StartsWith => "STARTSWITH",
                    TextTest::EndsWith => "ENDSWITH",
                };
                write!(f, "({}{sym} {operand} '{search}')", if *negated { "NOT " } else { "" })
            }
        }
    }
}

/// How deep a selector's tree may be (a property or literal is 1, each operator adds one),
/// and how many parentheses and unary operators may be open at once. The parser recurses
/// for each open one, and the evaluator and dropping the tree recurse once per level; the
/// text comes from any client (heartbeats, CHECK_CLIENT_CONFIG, pull headers), and without
/// a bound about 600 nested parentheses overflowed the 2 MiB stack of a runtime worker and
/// aborted the broker. Hand-written selectors nest a few levels; a chain of 250 ORs is 252
/// deep. At these limits a release build needs at most 120 KiB of stack to parse and
/// evaluate a selector, a debug build 1.1 MiB.
pub(crate) const MAX_DEPTH: usize = 256;
pub(crate) const MAX_OPEN: usize = 32;

fn too_deep() -> FilterError {
    FilterError::parse(format!(
        "Expression nests too deeply (more than {MAX_DEPTH} levels or {MAX_OPEN} open parentheses and unary operators)"
    ))
}

/// The depth of a new node, if allowed.
fn level(depth: usize) -> Result<usize, FilterError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(depth)
}

/// An expression and the depth of its tree.
type Parsed = (Expr, usize);

pub(crate) fn parse(text: &str) -> Result<Expr, FilterError> {
    let mut p = Parser {
        lexer: Lexer::new(text),
        ahead: Vec::new(),
        open: 0,
    };
    let (e, _) = condition(p.or_expression()?)?;
    Ok(e)
}

struct Parser {
    lexer: Lexer,
    /// Tokens read but not consumed.
    ahead: Vec<Token>,
    /// Parentheses and unary operators being parsed (each one a recursive call).
    open: usize,
}

/// `as_condition` keeping track of the depth (a cast is one more level).
fn condition((e, depth): Parsed) -> Result<Parsed, FilterError> {
    let cast = matches!(e, Expr::Property(_));
    Ok((as_condition(e)?, depth + usize::from(cast)))
}

/// Where a condition is needed: a boolean expression as it is, a property cast, anything
/// else refused (Java's `asBooleanExpression`).
fn as_condition(e: Expr) -> Result<Expr, FilterError> {
    if e.is_boolean() {
        Ok(e)
    } else if matches!(e, Expr::Property(_)) {
        Ok(Expr::BooleanCast(Box::new(e)))
    } else {
        Err(FilterError::parse(format!(
            "Expression will not result in a boolean value: {e}"
        )))
    }
}

fn check_ordered_operand(e: &Expr) -> Result<(), FilterError> {
    let refused = match e {
        Expr::Constant(v) => !v.is_number(),
        Expr::Flag(_) => true,
        other => other.is_boolean(),
    };
    if refused {
        return Err(FilterError::invalid(format!("Value '{e}' cannot be compared.")));
    }
    Ok(())
}

fn ordered(order: Order, left: Expr, right: Expr) -> Result<Expr, FilterError> {
    check_ordered_operand(&left)?;
    check_ordered_operand(&right)?;
    Ok(Expr::Ordered(order, Box::new(left), Box::new(right)))
}

fn equal(left: Expr, right: Expr) -> Result<Expr, FilterError> {
    for e in [&left, &right] {
        if matches!(e, Expr::Flag(None)) {
            return Err(FilterError::invalid(format!("'{e}' cannot be compared.")));
        }
    }
    if left.is_constant() && right.is_constant() && left.is_boolean() && !right.is_boolean() {
        return Err(FilterError::invalid(format!(
            "'{left}' cannot be compared with '{right}'"
        )));
    }
    Ok(Expr::Equal(Box::new(left), Box::new(right)))
}

fn between(value: Expr, low: Expr, high: Expr, negated: bool) -> Result<Expr, FilterError> {
    if negated {
        let below = ordered(Order::Lt, value.clone(), low)?;
        let above = ordered(Order::Gt, value, high)?;
        return Ok(Expr::Or(Box::new(below), Box::new(above)));
    }
    if let (Some(lv), Some(hv)) = (low.constant_value(), high.constant_value()) {
        let (Some(lv), Some(hv)) = (lv, hv) else {
            return Err(FilterError::invalid(
                "Illegal values of between, values can not be null!".into(),
            ));
        };
        let order = compare(&hv, &lv).map_err(|e| FilterError::invalid(e.to_string()))?;
        if order < 0 {
            return Err(FilterError::invalid(format!(
                "Illegal values of between, left value({lv}) must less than or equal to right value({hv})"
            )));
        }
    }
    let from = ordered(Order::Ge, value.clone(), low)?;
    let to = ordered(Order::Le, value, high)?;
    Ok(Expr::And(Box::new(from), Box::new(to)))
}

fn decimal(image: &str) -> Result<Expr, FilterError> {
    let digits = image.strip_suffix(['l', 'L']).unwrap_or(image);
    let n: i64 = digits.parse().map_err(|_| FilterError::number(digits))?;
    Ok(Expr::Constant(match i32::try_from(n) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Long(n),
    }))
}

fn float(image: &str) -> Result<Expr, FilterError> {
    let v: f64 = image.parse().map_err(|_| FilterError::number(image))?;
    if v.is_infinite() {
        return Err(FilterError::invalid(format!(
            "{image} is greater than 1.7976931348623157E308"
        )));
    }
    // Java refuses anything below Double.MIN_VALUE, which (literals being unsigned) means
    // zero: `0.0` is not a valid literal there.
    if v < 4.9e-324 {
        return Err(FilterError::invalid(format!("{image} is less than 4.9E-324")));
    }
    Ok(Expr::Constant(Value::Double(v)))
}

impl Parser {
    fn peek(&mut self, i: usize) -> Result<&Tok, FilterError> {
        while self.ahead.len() <= i {
            let t = self.lexer.next_token()?;
            self.ahead.push(t);
        }
        Ok(&self.ahead[i].tok)
    }

    fn next(&mut self) -> Result<Token, FilterError> {
        self.peek(0)?;
        Ok(self.ahead.remove(0))
    }

    fn unexpected(&mut self) -> FilterError {
        let t = &self.ahead[0];
        let image = if t.tok == Tok::Eof {
            "<EOF>".to_string()
        } else {
            escape(&t.image)
        };
        FilterError::parse(format!(
            "Encountered \" {} \"{image} \"\" at line {}, column {}.",
            t.tok.kind_name(),
            t.line,
            t.column
        ))
    }

    fn expect(&mut self, want: &Tok) -> Result<Token, FilterError> {
        if self.peek(0)? == want {
            self.next()
        } else {
            Err(self.unexpected())
        }
    }

    fn or_expression(&mut self) -> Result<Parsed, FilterError> {
        let (mut left, mut depth) = self.and_expression()?;
        while *self.peek(0)? == Tok::Or {
            self.next()?;
            let right = self.and_expression()?;
            let (l, l_depth) = condition((left, depth))?;
            let (r, r_depth) = condition(right)?;
            depth = level(l_depth.max(r_depth) + 1)?;
            left = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok((left, depth))
    }

    fn and_expression(&mut self) -> Result<Parsed, FilterError> {
        let (mut left, mut depth) = self.equality_expression()?;
        while *self.peek(0)? == Tok::And {
            self.next()?;
            let right = self.equality_expression()?;
            let (l, l_depth) = condition((left, depth))?;
            let (r, r_depth) = condition(right)?;
            depth = level(l_depth.max(r_depth) + 1)?;
            left = Expr::And(Box::new(l), Box::new(r));
        }
        Ok((left, depth))
    }

    fn equality_expression(&mut self) -> Result<Parsed, FilterError> {
        let (mut left, mut depth) = self.comparison_expression()?;
        loop {
            match self.peek(0)? {
                Tok::Eq => {
                    self.next()?;
                    let (right, r_depth) = self.comparison_expression()?;
                    depth = level(depth.max(r_depth) + 1)?;
                    left = equal(left, right)?;
                }
                Tok::Ne => {
                    self.next()?;
                    let (right, r_depth) = self.comparison_expression()?;
                    depth = level(depth.max(r_depth) + 2)?;
                    left = Expr::Not(Box::new(equal(left, right)?));
                }
                Tok::Is => {
                    self.next()?;
                    let negated = *self.peek(0)? == Tok::Not;
                    if negated {
                        self.next()?;
                    }
                    self.expect(&Tok::Null)?;
                    depth = level(depth + 1 + usize::from(negated))?;
                    let is_null = Expr::Equal(Box::new(left), Box::new(Expr::Flag(None)));
                    left = if negated { Expr::Not(Box::new(is_null)) } else { is_null };
                }
                _ => return Ok((left, depth)),
            }
        }
    }

    fn string_literal(&mut self) -> Result<String, FilterError> {
        if let Tok::Str(_) = self.peek(0)? {
            if let Tok::Str(s) = self.next()?.tok {
                return Ok(s);
            }
        }
        Err(self.unexpected())
    }

    fn in_list(&mut self) -> Result<Vec<String>, FilterError> {
        self.expect(&Tok::LParen)?;
        let mut list = vec![self.string_literal()?];
        while *self.peek(0)? == Tok::Comma {
            self.next()?;
            list.push(self.string_literal()?);
        }
        self.expect(&Tok::RParen)?;
        Ok(list)
    }

    fn comparison_expression(&mut self) -> Result<Parsed, FilterError> {
        let (mut left, mut depth) = self.unary_expression()?;
        loop {
            let first = self.peek(0)?.clone();
            let negated = first == Tok::Not;
            let op = if negated {
                // NOT must be followed by one of the operators it can negate; anything else
                // is a syntax error here, not the end of the comparison.
                match self.peek(1)? {
                    t @ (Tok::Between | Tok::In | Tok::Contains | Tok::StartsWith | Tok::EndsWith) => t.clone(),
                    _ => {
                        self.next()?;
                        return Err(self.unexpected());
                    }
                }
            } else {
                first
            };
            match op {
                Tok::Gt | Tok::Ge | Tok::Lt | Tok::Le => {
                    self.next()?;
                    let (right, r_depth) = self.unary_expression()?;
                    depth = level(depth.max(r_depth) + 1)?;
                    let order = match op {
                        Tok::Gt => Order::Gt,
                        Tok::Ge => Order::Ge,
                        Tok::Lt => Order::Lt,
                        _ => Order::Le,
                    };
                    left = ordered(order, left, right)?;
                }
                Tok::Between => {
                    self.next()?;
                    if negated {
                        self.next()?;
                    }
                    let (low, low_depth) = self.unary_expression()?;
                    self.expect(&Tok::And)?;
                    let (high, high_depth) = self.unary_expression()?;
                    depth = level(depth.max(low_depth).max(high_depth) + 2)?;
                    left = between(left, low, high, negated)?;
                }
                Tok::In => {
                    self.next()?;
                    if negated {
                        self.next()?;
                    }
                    let list = self.in_list()?;
                    let Expr::Property(property) = left else {
                        return Err(FilterError::invalid(format!(
                            "Expected a property for In expression, got: {left}"
                        )));
                    };
                    left = Expr::In {
                        property,
                        list,
                        negated,
                    };
                    depth = 1;
                }
                Tok::Contains | Tok::StartsWith | Tok::EndsWith => {
                    self.next()?;
                    if negated {
                        self.next()?;
                    }
                    let search = self.string_literal()?;
                    let test = match op {
                        Tok::Contains => TextTest::Contains,
                        Tok::StartsWith => TextTest::StartsWith,
                        _ => TextTest::EndsWith,
                    };
                    depth = level(depth + 1)?;
                    left = Expr::Text {
                        test,
                        operand: Box::new(left),
                        search,
                        negated,
                    };
                }
                _ => return Ok((left, depth)),
            }
        }
    }

    /// Parses what follows a parenthesis or a unary operator: a recursive call, refused
    /// before it is made when too many are open already.
    fn nested(&mut self, parse: fn(&mut Parser) -> Result<Parsed, FilterError>) -> Result<Parsed, FilterError> {
        if self.open >= MAX_OPEN {
            return Err(too_deep());
        }
        self.open += 1;
        let parsed = parse(self);
        self.open -= 1;
        parsed
    }

    fn unary_expression(&mut self) -> Result<Parsed, FilterError> {
        match self.peek(0)? {
            Tok::Plus => {
                self.next()?;
                self.nested(Parser::unary_expression)
            }
            Tok::Minus => {
                self.next()?;
                let (operand, depth) = self.nested(Parser::unary_expression)?;
                Ok((Expr::Negate(Box::new(operand)), level(depth + 1)?))
            }
            Tok::Not => {
                self.next()?;
                let (operand, depth) = condition(self.nested(Parser::unary_expression)?)?;
                Ok((Expr::Not(Box::new(operand)), level(depth + 1)?))
            }
            _ => self.primary_expression(),
        }
    }

    fn primary_expression(&mut self) -> Result<Parsed, FilterError> {
        let tok = self.peek(0)?.clone();
        let e = match tok {
            Tok::Str(s) => Expr::Constant(Value::Str(s)),
            Tok::Decimal(image) => decimal(&image)?,
            Tok::Float(image) => float(&image)?,
            Tok::True => Expr::Flag(Some(true)),
            Tok::False => Expr::Flag(Some(false)),
            Tok::Null => Expr::Flag(None),
            Tok::Id(name) => Expr::Property(name),
            Tok::LParen => {
                self.next()?;
                let inner = self.nested(Parser::or_expression)?;
                self.expect(&Tok::RParen)?;
                return Ok(inner);
            }
            _ => return Err(self.unexpected()),
        };
        self.next()?;
        Ok((e, 1))
    }
}
