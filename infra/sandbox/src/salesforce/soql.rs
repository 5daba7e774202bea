//! The part of SOQL carebridge's connector sends, parsed and run over stored records:
//!
//! ```text
//! SELECT field, … FROM Contact [WHERE condition] [ORDER BY field [ASC|DESC]] [LIMIT n]
//! condition := term (OR term)* ; term := factor (AND factor)* ;
//! factor := NOT factor | ( condition ) | field op value | field IN ( value, … )
//! op := = != <> < <= > >= LIKE
//! value := 'text' | number | true | false | null | YYYY-MM-DD | YYYY-MM-DDThh:mm:ssZ
//! ```
//!
//! Keywords are case-insensitive, as are field names; `LIKE` takes `%` and `_` and ignores case,
//! and `=` on text ignores case, as Salesforce compares.

use serde_json::{Map, Value};
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub object: String,
    condition: Option<Condition>,
    order: Option<(String, bool)>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    Compare(String, Op, Literal),
    In(String, Vec<Literal>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
    /// A date or a date-time, as written.
    When(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Symbol(&'static str),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("a quoted value is not closed".into()),
                    Some('\\') => {
                        value.push(*chars.get(i + 1).ok_or("a quoted value ends in \\")?);
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        value.push(*other);
                        i += 1;
                    }
                }
            }
            out.push(Token::Text(value));
        } else if let Some(symbol) = ["<=", ">=", "!=", "<>", "=", "<", ">", "(", ")", ","]
            .into_iter()
            .find(|s| chars[i..].starts_with(&s.chars().collect::<Vec<_>>()))
        {
            out.push(Token::Symbol(symbol));
            i += symbol.len();
        } else if c.is_alphanumeric() || "_.-:+".contains(c) {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.-:+".contains(chars[i])) {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(word) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), String> {
        if self.keyword(word) {
            Ok(())
        } else {
            Err(format!("expected {word}"))
        }
    }

    fn symbol(&mut self, symbol: &'static str) -> bool {
        let found = self.peek() == Some(&Token::Symbol(symbol));
        self.at += usize::from(found);
        found
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(word)) => Ok(word),
            other => Err(format!("expected a field name, found {other:?}")),
        }
    }

    fn condition(&mut self) -> Result<Condition, String> {
        let mut left = self.term()?;
        while self.keyword("OR") {
            left = Condition::Or(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Condition, String> {
        let mut left = self.factor()?;
        while self.keyword("AND") {
            left = Condition::And(Box::new(left), Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Condition, String> {
        if self.keyword("NOT") {
            return Ok(Condition::Not(Box::new(self.factor()?)));
        }
        if self.symbol("(") {
            let inner = self.condition()?;
            if !self.symbol(")") {
                return Err("a ( is not closed".into());
            }
            return Ok(inner);
        }
        let field = self.name()?;
        if self.keyword("IN") {
            if !self.symbol("(") {
                return Err("IN takes a list in ( )".into());
            }
            let mut values = vec![self.literal()?];
            while self.symbol(",") {
                values.push(self.literal()?);
            }
            if !self.symbol(")") {
                return Err("an IN list is not closed".into());
            }
            return Ok(Condition::In(field, values));
        }
        let op = match self.next() {
            Some(Token::Symbol("=")) => Op::Eq,
            Some(Token::Symbol("!=" | "<>")) => Op::Ne,
            Some(Token::Symbol("<")) => Op::Lt,
            Some(Token::Symbol("<=")) => Op::Le,
            Some(Token::Symbol(">")) => Op::Gt,
            Some(Token::Symbol(">=")) => Op::Ge,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("LIKE") => Op::Like,
            other => return Err(format!("expected an operator after {field}, found {other:?}")),
        };
        Ok(Condition::Compare(field, op, self.literal()?))
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Text(text)) => Ok(Literal::Text(text)),
            Some(Token::Word(word)) => {
                if word.eq_ignore_ascii_case("null") {
                    Ok(Literal::Null)
                } else if word.eq_ignore_ascii_case("true") || word.eq_ignore_ascii_case("false") {
                    Ok(Literal::Bool(word.eq_ignore_ascii_case("true")))
                } else if chrono::NaiveDate::parse_from_str(&word, "%Y-%m-%d").is_ok()
                    || chrono::DateTime::parse_from_rfc3339(&word).is_ok()
                {
                    Ok(Literal::When(word))
                } else if let Ok(number) = word.parse::<f64>() {
                    Ok(Literal::Number(number))
                } else {
                    Err(format!("{word} is not a value"))
                }
            }
            other => Err(format!("expected a value, found {other:?}")),
        }
    }
}

impl Query {
    pub fn parse(text: &str) -> Result<Query, String> {
        let mut parser = Parser {
            tokens: tokens(text)?,
            at: 0,
        };
        parser.expect_keyword("SELECT")?;
        let mut fields = vec![parser.name()?];
        while parser.symbol(",") {
            fields.push(parser.name()?);
        }
        parser.expect_keyword("FROM")?;
        let object = parser.name()?;
        let condition = if parser.keyword("WHERE") {
            Some(parser.condition()?)
        } else {
            None
        };
        let order = if parser.keyword("ORDER") {
            parser.expect_keyword("BY")?;
            let field = parser.name()?;
            let descending = parser.keyword("DESC");
            if !descending {
                parser.keyword("ASC");
            }
            Some((field, descending))
        } else {
            None
        };
        let limit = if parser.keyword("LIMIT") {
            match parser.next() {
                Some(Token::Word(n)) => Some(n.parse().map_err(|_| format!("LIMIT {n} is not a number"))?),
                other => return Err(format!("expected a number after LIMIT, found {other:?}")),
            }
        } else {
            None
        };
        if let Some(extra) = parser.peek() {
            return Err(format!("unexpected {extra:?}"));
        }
        Ok(Query {
            fields,
            object,
            condition,
            order,
            limit,
        })
    }

    /// Every field the query names, so an unknown one can be refused.
    pub fn named_fields(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        fn walk<'a>(condition: &'a Condition, into: &mut Vec<&'a str>) {
            match condition {
                Condition::And(a, b) | Condition::Or(a, b) => {
                    walk(a, into);
                    walk(b, into);
                }
                Condition::Not(inner) => walk(inner, into),
                Condition::Compare(field, _, _) | Condition::In(field, _) => into.push(field),
            }
        }
        if let Some(condition) = &self.condition {
            walk(condition, &mut names);
        }
        if let Some((field, _)) = &self.order {
            names.push(field);
        }
        names
    }

    pub fn keeps(&self, record: &Map<String, Value>) -> bool {
        self.condition.as_ref().is_none_or(|c| holds(c, record))
    }

    pub fn sort(&self, records: &mut [&Map<String, Value>]) {
        if let Some((field, descending)) = &self.order {
            records.sort_by(|a, b| {
                let order = order_of(get(a, field), get(b, field));
                if *descending { order.reverse() } else { order }
            });
        }
    }
}

/// A record's field, found whatever the case of its name.
pub fn get<'a>(record: &'a Map<String, Value>, field: &str) -> &'a Value {
    record
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(field))
        .map_or(&Value::Null, |(_, value)| value)
}

fn holds(condition: &Condition, record: &Map<String, Value>) -> bool {
    match condition {
        Condition::And(a, b) => holds(a, record) && holds(b, record),
        Condition::Or(a, b) => holds(a, record) || holds(b, record),
        Condition::Not(inner) => !holds(inner, record),
        Condition::In(field, values) => values
            .iter()
            .any(|v| compare(get(record, field), v) == Some(Ordering::Equal)),
        Condition::Compare(field, op, literal) => {
            let have = get(record, field);
            match (op, literal) {
                (Op::Eq, Literal::Null) => have.is_null(),
                (Op::Ne, Literal::Null) => !have.is_null(),
                (Op::Like, Literal::Text(pattern)) => have
                    .as_str()
                    .is_some_and(|t| like(&t.to_lowercase(), &pattern.to_lowercase())),
                (Op::Ne, _) => compare(have, literal) != Some(Ordering::Equal),
                _ => compare(have, literal).is_some_and(|order| match op {
                    Op::Eq => order == Ordering::Equal,
                    Op::Lt => order == Ordering::Less,
                    Op::Le => order != Ordering::Greater,
                    Op::Gt => order == Ordering::Greater,
                    Op::Ge => order != Ordering::Less,
                    Op::Ne | Op::Like => false,
                }),
            }
        }
    }
}

fn compare(have: &Value, want: &Literal) -> Option<Ordering> {
    match (have, want) {
        (Value::String(have), Literal::Text(want)) => Some(have.to_lowercase().cmp(&want.to_lowercase())),
        (Value::String(have), Literal::When(want)) => {
            // Stored times are Salesforce's `…+0000`; literals are RFC 3339.
            let time = super::contacts::parse_salesforce_time;
            match (time(have), time(want)) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => Some(have.as_str().cmp(want.as_str())),
            }
        }
        (Value::Number(have), Literal::Number(want)) => have.as_f64()?.partial_cmp(want),
        (Value::Bool(have), Literal::Bool(want)) => Some(have.cmp(want)),
        _ => None,
    }
}

fn order_of(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()).unwrap_or(Ordering::Equal),
        (Value::Null, Value::Null) => Ordering::Equal,
        // Salesforce puts nulls first when ascending.
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// SOQL `LIKE`: `%` any run, `_` any one character.
fn like(text: &str, pattern: &str) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    let (mut ti, mut pi, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contact(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn the_connectors_queries_parse_and_select_what_salesforce_would() {
        let ann = contact(
            json!({"Id": "003A", "FirstName": "Ann", "LastName": "Lee", "Birthdate": "1980-02-03",
            "Synced_to_Hint__c": true, "Email": null}),
        );
        let q = |text: &str| Query::parse(text).unwrap();
        assert!(
            q("SELECT Id FROM Contact WHERE firstname = 'ANN' AND LastName = 'Lee' AND Birthdate = 1980-02-03")
                .keeps(&ann)
        );
        assert!(!q("SELECT Id FROM Contact WHERE FirstName = 'Ann' AND Birthdate = 1980-02-04").keeps(&ann));
        assert!(q("SELECT Id FROM Contact WHERE Id IN ('003B', '003A')").keeps(&ann));
        assert!(q("SELECT Id FROM Contact WHERE Email = null AND Synced_to_Hint__c = true").keeps(&ann));
        assert!(
            q("SELECT Id FROM Contact WHERE (LastName LIKE 'l%' OR FirstName = 'x') AND NOT Id = '003B'").keeps(&ann)
        );
        assert!(q("SELECT Id FROM Contact WHERE LastName LIKE 'O\\'Br%'").fields == ["Id"]);
        let stamped = contact(json!({"Id": "003A", "SystemModstamp": "2026-12-04T10:15:30.250+0000"}));
        assert!(q("SELECT Id FROM Contact WHERE SystemModstamp >= 2026-12-04T10:15:30Z").keeps(&stamped));
        assert!(!q("SELECT Id FROM Contact WHERE SystemModstamp >= 2026-12-04T10:15:31Z").keeps(&stamped));
        assert!(q("SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-04T11:15:00+01:00").keeps(&stamped));
        let query = q("select Id, FirstName from Contact order by LastName desc limit 5");
        assert_eq!((query.limit, query.object.as_str()), (Some(5), "Contact"));
        assert_eq!(query.named_fields(), ["Id", "FirstName", "LastName"]);
    }

    #[test]
    fn what_is_not_soql_is_named() {
        assert!(Query::parse("SELECT FROM Contact").is_err());
        assert!(
            Query::parse("SELECT Id FROM Contact WHERE Name = 'x")
                .unwrap_err()
                .contains("not closed")
        );
        assert!(Query::parse("SELECT Id FROM Contact WHERE Name ~ 'x'").is_err());
        assert!(Query::parse("SELECT Id FROM Contact LIMIT many").is_err());
        assert!(Query::parse("SELECT Id FROM Contact extra").is_err());
    }

    #[test]
    fn like_takes_percent_and_underscore() {
        assert!(like("anderson", "and%"));
        assert!(like("anderson", "%son"));
        assert!(like("anderson", "a_d%s_n"));
        assert!(!like("anderson", "and"));
        assert!(like("", "%"));
    }
}
