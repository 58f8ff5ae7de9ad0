//! A scanner for the one JSON shape an event line has: a flat object of strings, numbers,
//! booleans and nulls. It borrows from the line (a string is copied only when it has escapes) and
//! keeps a number's text as written, so decimals stay exact. Nested values are refused: no event
//! field holds one. The caller checks the line is UTF-8 once; strings are found with `memchr`
//! and sliced from it. Raw control characters inside strings are tolerated.

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue<'a> {
    Str(Cow<'a, str>),
    /// The number's text, as written.
    Num(&'a str),
    /// Integer nanoseconds a binary source (gRPC) already holds as a number: no text to parse.
    Nanos(i64),
    Bool(bool),
    Null,
}

impl JsonValue<'_> {
    pub fn type_name(&self) -> &'static str {
        match self {
            JsonValue::Str(_) => "a string",
            JsonValue::Num(_) | JsonValue::Nanos(_) => "a number",
            JsonValue::Bool(_) => "a boolean",
            JsonValue::Null => "null",
        }
    }
}

/// Where and why a line is not a flat JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset in the line.
    pub offset: usize,
    pub msg: &'static str,
}

struct Scanner<'a> {
    /// The line, already checked to be UTF-8 once: strings are sliced from it at ASCII quotes.
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn err<T>(&self, msg: &'static str) -> Result<T, JsonError> {
        Err(JsonError { offset: self.i, msg })
    }
    #[inline]
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        // at the opening quote
        self.i += 1;
        let start = self.i;
        match memchr::memchr2(b'"', b'\\', &self.s[start..]) {
            None => {
                self.i = self.s.len();
                self.err("unterminated string")
            }
            Some(k) if self.s[start + k] == b'"' => {
                self.i = start + k + 1;
                // Both ends are ASCII quotes, so the slice falls on character boundaries.
                Ok(Cow::Borrowed(&self.text[start..start + k]))
            }
            Some(k) => {
                self.i = start + k;
                self.escaped(start)
            }
        }
    }

    fn escaped(&mut self, start: usize) -> Result<Cow<'a, str>, JsonError> {
        let mut out: Vec<u8> = self.s[start..self.i].to_vec();
        loop {
            match self.s.get(self.i) {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return match String::from_utf8(out) {
                        Ok(s) => Ok(Cow::Owned(s)),
                        Err(_) => self.err("string is not valid UTF-8"),
                    };
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.s.get(self.i) {
                        Some(c) => *c,
                        None => return self.err("unterminated escape"),
                    };
                    self.i += 1;
                    match c {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.s.get(self.i) != Some(&b'\\') || self.s.get(self.i + 1) != Some(&b'u') {
                                    return self.err("unpaired surrogate");
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("unpaired surrogate");
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            } else if (0xDC00..0xE000).contains(&cp) {
                                return self.err("unpaired surrogate");
                            }
                            match char::from_u32(cp) {
                                Some(ch) => {
                                    let mut b = [0u8; 4];
                                    out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                                }
                                None => return self.err("invalid \\u escape"),
                            }
                        }
                        _ => return self.err("invalid escape"),
                    }
                }
                Some(c) => {
                    out.push(*c);
                    self.i += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let Some(h) = self.s.get(self.i..self.i + 4) else {
            return self.err("short \\u escape");
        };
        let mut v = 0u32;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return self.err("invalid \\u escape"),
            };
            v = v * 16 + d as u32;
        }
        self.i += 4;
        Ok(v)
    }

    fn number(&mut self) -> Result<&'a str, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let int_len = self.i - int_start;
        if int_len == 0 {
            return self.err("invalid number");
        }
        if int_len > 1 && self.s[int_start] == b'0' {
            return self.err("leading zero in number");
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let f = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            if self.i == f {
                return self.err("invalid number");
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let e = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            if self.i == e {
                return self.err("invalid number");
            }
        }
        // ASCII only: the slice falls on character boundaries.
        Ok(&self.text[start..self.i])
    }

    fn literal(&mut self, word: &'static [u8], v: JsonValue<'a>) -> Result<JsonValue<'a>, JsonError> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }

    fn value(&mut self) -> Result<JsonValue<'a>, JsonError> {
        match self.peek() {
            Some(b'"') => Ok(JsonValue::Str(self.string()?)),
            Some(b'-' | b'0'..=b'9') => Ok(JsonValue::Num(self.number()?)),
            Some(b't') => self.literal(b"true", JsonValue::Bool(true)),
            Some(b'f') => self.literal(b"false", JsonValue::Bool(false)),
            Some(b'n') => self.literal(b"null", JsonValue::Null),
            Some(b'{' | b'[') => self.err("nested objects and arrays are not event fields"),
            None => self.err("truncated: the line ends inside the object"),
            Some(_) => self.err("expected a value"),
        }
    }
}

/// Calls `f(key, value)` for each member of the flat object on `line`, in order. Stops at the
/// first error `f` returns, as `Err(Ok(e))`; a syntax error is `Err(Err(JsonError))`.
pub fn for_each_member<'a, E>(line: &'a str, mut f: impl FnMut(&str, JsonValue<'a>) -> Result<(), E>) -> Result<(), Result<E, JsonError>> {
    let mut sc = Scanner { text: line, s: line.as_bytes(), i: 0 };
    sc.ws();
    if sc.peek() != Some(b'{') {
        return Err(Err(JsonError { offset: sc.i, msg: "not a JSON object" }));
    }
    sc.i += 1;
    sc.ws();
    if sc.peek() == Some(b'}') {
        sc.i += 1;
    } else {
        loop {
            sc.ws();
            if sc.peek() != Some(b'"') {
                let msg = if sc.peek().is_none() { "truncated: the line ends inside the object" } else { "expected a field name" };
                return Err(Err(JsonError { offset: sc.i, msg }));
            }
            let key = sc.string().map_err(Err)?;
            sc.ws();
            if sc.peek() != Some(b':') {
                return Err(Err(JsonError {
                    offset: sc.i,
                    msg: if sc.peek().is_none() { "truncated: the line ends inside the object" } else { "expected ':'" },
                }));
            }
            sc.i += 1;
            sc.ws();
            let v = sc.value().map_err(Err)?;
            f(&key, v).map_err(Ok)?;
            sc.ws();
            match sc.peek() {
                Some(b',') => sc.i += 1,
                Some(b'}') => {
                    sc.i += 1;
                    break;
                }
                None => return Err(Err(JsonError { offset: sc.i, msg: "truncated: the line ends inside the object" })),
                Some(_) => return Err(Err(JsonError { offset: sc.i, msg: "expected ',' or '}'" })),
            }
        }
    }
    sc.ws();
    if sc.i != line.len() {
        return Err(Err(JsonError { offset: sc.i, msg: "text after the object" }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(line: &str) -> Result<Vec<(String, JsonValue<'_>)>, JsonError> {
        let mut v = Vec::new();
        match for_each_member::<()>(line, |k, val| {
            v.push((k.to_string(), val));
            Ok(())
        }) {
            Ok(()) => Ok(v),
            Err(Err(e)) => Err(e),
            Err(Ok(())) => unreachable!(),
        }
    }

    #[test]
    fn reads_flat_objects() {
        let m = members(r#" {"ts": 1, "price":"50123.5", "qty": 1.25e2, "x": null, "b": true, "s": "a\"b\u00e9\ud83d\ude00"} "#).unwrap();
        assert_eq!(m[0], ("ts".into(), JsonValue::Num("1")));
        assert_eq!(m[1], ("price".into(), JsonValue::Str("50123.5".into())));
        assert_eq!(m[2], ("qty".into(), JsonValue::Num("1.25e2")));
        assert_eq!(m[3].1, JsonValue::Null);
        assert_eq!(m[4].1, JsonValue::Bool(true));
        assert_eq!(m[5].1, JsonValue::Str("a\"bé😀".into()));
        assert!(members("{}").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_is_not_a_flat_object() {
        for bad in [
            r#"{"ts": 1, "type": "tra"#,
            "[1]",
            r#"{"a": {"b": 1}}"#,
            r#"{"a": 01}"#,
            r#"{"a": 1} x"#,
            r#"{"a" 1}"#,
            r#"{"a": tru}"#,
            r#"{"a": "\ud800"}"#,
            "",
            r#"{"a": 1,}"#,
            r#"{"a": -}"#,
        ] {
            assert!(members(bad).is_err(), "{bad}");
        }
        assert_eq!(members(r#"{"ts": 1, "type": "tra"#).unwrap_err().msg, "unterminated string");
        assert_eq!(members(r#"{"ts": 1, "#).unwrap_err().msg, "truncated: the line ends inside the object");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = members(&s);
        }
        #[test]
        fn agrees_with_serde_on_strings(s in "\\PC{0,30}") {
            let line = serde_json::json!({ "k": s }).to_string();
            let m = members(&line).unwrap();
            proptest::prop_assert_eq!(&m[0].1, &JsonValue::Str(s.into()));
        }
    }
}
