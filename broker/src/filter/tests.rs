//! Selector semantics, case by case as the Java filter module decides them.

use super::{compile, Value};

fn props<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
}

fn selects(expr: &str, pairs: &[(&str, &str)]) -> bool {
    compile(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .matches(&props(pairs))
}

fn value(expr: &str, pairs: &[(&str, &str)]) -> Option<Value> {
    compile(expr).unwrap().evaluate(&props(pairs)).unwrap()
}

#[test]
fn comparisons_convert_property_strings_to_the_literal_type() {
    let m = [("a", "5"), ("b", "x"), ("d", "2.5"), ("big", "9999999999")];
    assert!(selects("a = 5", &m));
    assert!(selects("a > 4 AND a < 6", &m));
    assert!(selects("a BETWEEN 0 AND 5", &m));
    assert!(!selects("a NOT BETWEEN 0 AND 5", &m));
    // The property is parsed as the literal's type: "2.5" is no Integer, so Java fails the
    // evaluation and the message is not selected; against a double literal it compares.
    assert!(!selects("d > 2", &m));
    assert!(selects("d > 2.0", &m));
    assert!(selects("d = 2.5", &m));
    // 2147483647 is an Integer literal and "9999999999" no Integer; one more makes a Long.
    assert!(!selects("big > 2147483647", &m));
    assert!(selects("big > 2147483648", &m));
    assert!(selects("b = 'x'", &m));
    assert!(selects("b <> 'y'", &m));
    // "x" is no integer: an evaluation error, so no match either way.
    assert!(!selects("b = 1", &m));
    assert!(!selects("NOT (b = 1)", &m));
    // Strings are ordered only as numbers.
    // A string literal cannot be ordered at all; two properties are ordered only as numbers.
    assert!(compile("a > '4'").is_err());
    assert!(selects("a > d", &m));
    assert!(!selects("b > a", &m));
}

#[test]
fn null_is_neither_true_nor_false() {
    let m = [("a", "1")];
    assert_eq!(value("missing = 1", &m), None);
    assert_eq!(value("missing > 1", &m), None);
    assert_eq!(value("NOT (missing > 1)", &m), None);
    assert!(selects("missing IS NULL", &m));
    assert!(selects("a IS NOT NULL", &m));
    assert!(!selects("missing IS NOT NULL", &m));
    assert!(selects("missing = 1 OR a = 1", &m));
    assert_eq!(value("missing = 1 AND a = 1", &m), None);
    assert_eq!(value("missing = 1 AND a = 2", &m), Some(Value::Bool(false)));
    assert!(!selects("missing IN ('1')", &m));
    assert!(!selects("missing NOT IN ('1')", &m));
}

#[test]
fn in_lists_and_text_tests() {
    let m = [("c", "blue"), ("n", "12")];
    assert!(selects("c IN ('red', 'blue')", &m));
    assert!(!selects("c NOT IN ('red', 'blue')", &m));
    assert!(selects("n IN ('12')", &m), "IN compares strings as they are");
    assert!(selects("c CONTAINS 'lu'", &m));
    assert!(selects("c STARTSWITH 'bl'", &m));
    assert!(selects("c ENDSWITH 'ue'", &m));
    assert!(selects("c NOT CONTAINS 'x'", &m));
    assert!(!selects("c CONTAINS ''", &m));
    assert!(!selects("missing NOT CONTAINS 'x'", &m));
}

#[test]
fn literals_and_keywords() {
    let m = [("a", "3"), ("s", "it's")];
    assert!(selects("TRUE", &m));
    assert!(!selects("FALSE", &m));
    assert!(selects("a = 3L", &m));
    assert!(selects("a > -1", &m));
    assert!(selects("a = +3", &m));
    assert!(selects("s = 'it''s'", &m));
    assert!(
        selects("a between 1 and 3 and s is not null", &m),
        "keywords ignore case"
    );
    assert!(selects("a = 3 -- a comment\n", &m));
    assert!(selects("/* c */ a = 3", &m));
    assert!(selects("a = 3 trailing words are never read", &m));
    // A bare property is a cast to boolean: a string is never TRUE.
    assert!(!selects("a", &m));
    assert!(!selects("a AND TRUE", &m));
}

#[test]
fn refused_at_compile_time_as_java_refuses() {
    for bad in [
        "",
        "a =",
        "a = NULL",
        "1",
        "'text'",
        "a > 'x'",
        "a > TRUE",
        "TRUE = 1",
        "a IN (1, 2)",
        "'x' IN ('x')",
        "a BETWEEN 5 AND 1",
        "a BETWEEN NULL AND 1",
        "a = 0.0",
        "a = 99999999999999999999",
        "a = 'unterminated",
        "a NOT 5",
        "a IS 5",
        "a = 1 OR",
        "(a = 1",
        "a # 1",
        "NOT 1",
    ] {
        assert!(compile(bad).is_err(), "{bad:?} should be refused");
    }
    let e = compile("a = NULL").unwrap_err().to_string();
    assert!(
        e.starts_with("java.lang.RuntimeException: 'NULL' cannot be compared."),
        "{e}"
    );
    let e = compile("a = ").unwrap_err().to_string();
    assert!(
        e.starts_with("org.apache.rocketmq.filter.parser.ParseException: Encountered"),
        "{e}"
    );
    let e = compile("a = 'x").unwrap_err().to_string();
    assert!(
        e.starts_with("org.apache.rocketmq.filter.parser.TokenMgrError: Lexical error at line 1"),
        "{e}"
    );
}

#[test]
fn numbers_compare_across_types() {
    let m = [("i", "7"), ("f", "7.0"), ("l", "7")];
    assert!(selects("i = 7.0", &m), "string to Double against a double literal");
    assert!(!selects("f = 7", &m), "'7.0' is no Integer: an error, no match");
    assert!(selects("l >= 7 AND l <= 7.5", &m));
    assert!(!selects("-i < 0", &m), "negating a string property gives NULL");
}

/// Selectors come from any client, and parsing, evaluating and dropping a tree recurse once
/// per level: nesting is bounded, and a selector past the bound is refused with an error
/// instead of overflowing the stack (which aborts the whole broker). Found by the sql92 fuzz
/// target (fuzz/regressions/sql92/); this runs on the test thread's 2 MiB stack, the size of
/// a runtime worker's, so it also checks that the limits fit in one.
#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    use super::parser::{MAX_DEPTH, MAX_OPEN};
    let m = [("a", "1")];
    // (shape at the limit, one level more): parentheses and unary operators open at once,
    // then left-deep chains (a chain of n ORs is n + 2 deep, as `a = 1` is 2; `a IS NOT NULL` is 3).
    let or_chain = |n: usize| format!("a = 1{}", " OR a = 1".repeat(n));
    let and_chain = |n: usize| format!("a = 1{}", " AND a IS NOT NULL".repeat(n));
    let eq_chain = |n: usize| format!("a{}", " = a".repeat(n));
    let parens = |n: usize| format!("{}a = 1{}", "(".repeat(n), ")".repeat(n));
    let nots = |n: usize| format!("{}(a = 1)", "NOT ".repeat(n));
    let minus = |n: usize| format!("{}a IS NULL", "- ".repeat(n));
    for (name, shape, limit) in [
        ("OR chain", &or_chain as &dyn Fn(usize) -> String, MAX_DEPTH - 2),
        ("AND chain", &and_chain, MAX_DEPTH - 3),
        ("= chain", &eq_chain, MAX_DEPTH - 1),
        ("parentheses", &parens, MAX_OPEN),
        ("NOTs", &nots, MAX_OPEN - 1),
        ("unary minus", &minus, MAX_OPEN),
    ] {
        let expr = compile(&shape(limit)).unwrap_or_else(|e| panic!("{name} at the limit: {e}"));
        let _ = expr.evaluate(&props(&m));
        drop(expr);
        let e = compile(&shape(limit + 1)).expect_err(name).to_string();
        assert!(e.contains("nests too deeply"), "{name}: {e}");
        let e = compile(&shape(100_000)).expect_err(name).to_string();
        assert!(e.contains("nests too deeply"), "{name}: {e}");
    }
    assert!(selects(&or_chain(MAX_DEPTH - 2), &m));
    assert!(selects(&parens(MAX_OPEN), &m));
    // Unclosed parentheses are refused the same way, before the parser runs out of text.
    let e = compile(&"(".repeat(100_000)).unwrap_err().to_string();
    assert!(e.contains("nests too deeply"), "{e}");
}
