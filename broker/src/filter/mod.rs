//! SQL92 message selectors, as the Java broker's filter module understands them: the
//! grammar of `SelectorParser.jj` (4.9.8, plus 5.x's CONTAINS / STARTSWITH / ENDSWITH), the
//! compile-time checks of its expression factories, and its three-valued evaluation over a
//! message's properties, including the string-to-number conversions Java applies when a
//! property is compared with a number.
//!
//! `compile` gives an [`Expression`]; [`Expression::matches`] is true only when the
//! expression evaluates to TRUE (NULL, FALSE and evaluation errors do not match, as in
//! Java's `ExpressionMessageFilter`).

mod eval;
mod lexer;
mod parser;

use std::fmt;

pub use eval::Value;

/// Why an expression was refused. `Display` gives the text Java's `MQFilterException`
/// reports (the cause's class and message), which CHECK_CLIENT_CONFIG returns as its remark.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    text: String,
}

impl FilterError {
    pub(crate) fn lexical(message: String) -> FilterError {
        FilterError {
            text: format!("org.apache.rocketmq.filter.parser.TokenMgrError: {message}"),
        }
    }

    pub(crate) fn parse(message: String) -> FilterError {
        FilterError {
            text: format!("org.apache.rocketmq.filter.parser.ParseException: {message}"),
        }
    }

    /// A check of an expression factory failed (Java throws a RuntimeException there).
    pub(crate) fn invalid(message: String) -> FilterError {
        FilterError {
            text: format!("java.lang.RuntimeException: {message}"),
        }
    }

    pub(crate) fn number(text: &str) -> FilterError {
        FilterError {
            text: format!("java.lang.NumberFormatException: For input string: \"{text}\""),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for FilterError {}

/// A compiled selector.
#[derive(Debug, Clone)]
pub struct Expression {
    root: parser::Expr,
}

/// Compiles a selector; the text after the last token the grammar needs is not looked at,
/// as in Java (`a = 1 garbage` is `a = 1`).
pub fn compile(text: &str) -> Result<Expression, FilterError> {
    Ok(Expression {
        root: parser::parse(text)?,
    })
}

impl Expression {
    /// Whether a message whose properties `property` looks up is selected.
    pub fn matches(&self, property: &dyn Fn(&str) -> Option<String>) -> bool {
        matches!(self.evaluate(property), Ok(Some(Value::Bool(true))))
    }

    /// The expression's value: `None` is SQL NULL; `Err` is what Java throws while
    /// evaluating (a property that is not a number compared with one, say).
    pub fn evaluate(&self, property: &dyn Fn(&str) -> Option<String>) -> Result<Option<Value>, eval::EvalError> {
        eval::evaluate(&self.root, property)
    }
}

#[cfg(test)]
mod tests;
