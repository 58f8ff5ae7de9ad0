//! Fixed-point decimals. Prices and quantities are `i64` counts of 10⁻⁸ (the satoshi): exact for
//! every exchange price and size seen in practice, and fast integer arithmetic on the hot path.
//! Parsing is exact from decimal text; a value with a non-zero digit past the eighth decimal is
//! refused rather than rounded, because a silently rounded size breaks a book.

use std::fmt;

/// Decimal digits after the point.
pub const SCALE_DIGITS: u32 = 8;
/// Units per 1.0.
pub const SCALE: i64 = 100_000_000;

/// Why decimal text could not be read exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("empty number")]
    Empty,
    #[error("not a decimal number")]
    Invalid,
    #[error("more than 8 decimal places")]
    TooPrecise,
    #[error("out of range")]
    Overflow,
}

/// Parses decimal text (`-12.5`, `50123.50`, `1e-3`) into units of 10⁻⁸, exactly.
pub fn parse_fixed(s: &[u8]) -> Result<i64, DecimalError> {
    if s.is_empty() {
        return Err(DecimalError::Empty);
    }
    let mut i = 0;
    let neg = match s[0] {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut mant: i128 = 0;
    let mut exp: i32 = 0; // value = mant * 10^exp
    let mut digits = 0u32;
    let mut sig = 0u32;
    let mut seen_point = false;
    // Zeros after the point are held back until a non-zero digit follows: trailing ones change
    // nothing, so `1.000…0` is exact however many zeros it has.
    let mut held_zeros = 0u32;
    while i < s.len() {
        let c = s[i];
        match c {
            b'0' if seen_point => {
                digits += 1;
                held_zeros += 1;
            }
            b'0'..=b'9' => {
                digits += 1;
                for k in 0..=held_zeros {
                    // Leading zeros are not significant; the digit itself is unless a leading 0.
                    if mant != 0 || (k == held_zeros && c != b'0') {
                        sig += 1;
                    }
                    if sig > 36 {
                        return Err(DecimalError::Overflow);
                    }
                    mant *= 10;
                    if seen_point {
                        exp -= 1;
                    }
                }
                held_zeros = 0;
                mant += (c - b'0') as i128;
            }
            b'.' if !seen_point => seen_point = true,
            b'e' | b'E' => break,
            _ => return Err(DecimalError::Invalid),
        }
        i += 1;
    }
    if digits == 0 {
        return Err(DecimalError::Invalid);
    }
    if i < s.len() {
        // exponent
        i += 1;
        let mut eneg = false;
        if i < s.len() && (s[i] == b'-' || s[i] == b'+') {
            eneg = s[i] == b'-';
            i += 1;
        }
        if i == s.len() {
            return Err(DecimalError::Invalid);
        }
        let mut e: i32 = 0;
        while i < s.len() {
            let c = s[i];
            if !c.is_ascii_digit() {
                return Err(DecimalError::Invalid);
            }
            e = e.saturating_mul(10).saturating_add((c - b'0') as i32);
            i += 1;
        }
        exp = exp.saturating_add(if eneg { -e } else { e });
    }
    let shift = exp.saturating_add(SCALE_DIGITS as i32);
    let v: i128 = if mant == 0 {
        0
    } else if shift >= 0 {
        if shift > 38 {
            return Err(DecimalError::Overflow);
        }
        mant.checked_mul(10i128.pow(shift as u32)).ok_or(DecimalError::Overflow)?
    } else {
        let d = -shift;
        if d > 38 {
            return Err(DecimalError::TooPrecise);
        }
        let p = 10i128.pow(d as u32);
        if mant % p != 0 {
            return Err(DecimalError::TooPrecise);
        }
        mant / p
    };
    let v = if neg { -v } else { v };
    i64::try_from(v).map_err(|_| DecimalError::Overflow)
}

fn fmt_fixed(v: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let neg = v < 0;
    let a = v.unsigned_abs();
    let int = a / SCALE as u64;
    let mut frac = a % SCALE as u64;
    if neg {
        f.write_str("-")?;
    }
    write!(f, "{int}")?;
    if frac != 0 {
        let mut width = SCALE_DIGITS as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        write!(f, ".{frac:0width$}")?;
    }
    Ok(())
}

macro_rules! fixed_type {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl $name {
            pub const ZERO: $name = $name(0);
            /// Exact parse of decimal text.
            pub fn parse(s: &str) -> Result<Self, DecimalError> {
                parse_fixed(s.as_bytes()).map($name)
            }
            /// From a whole number of units (1 → 1.0).
            pub const fn from_int(i: i64) -> Self {
                $name(i * SCALE)
            }
            /// From raw 10⁻⁸ units.
            pub const fn from_raw(raw: i64) -> Self {
                $name(raw)
            }
            pub const fn raw(self) -> i64 {
                self.0
            }
            /// For statistics in detectors only; never for book arithmetic.
            pub fn to_f64(self) -> f64 {
                self.0 as f64 / SCALE as f64
            }
            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_fixed(self.0, f)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_fixed(self.0, f)
            }
        }
        impl std::ops::Add for $name {
            type Output = $name;
            fn add(self, o: $name) -> $name {
                $name(self.0 + o.0)
            }
        }
        impl std::ops::Sub for $name {
            type Output = $name;
            fn sub(self, o: $name) -> $name {
                $name(self.0 - o.0)
            }
        }
        impl std::ops::AddAssign for $name {
            fn add_assign(&mut self, o: $name) {
                self.0 += o.0
            }
        }
        impl std::ops::SubAssign for $name {
            fn sub_assign(&mut self, o: $name) {
                self.0 -= o.0
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

fixed_type!(Price, "A price in units of 10⁻⁸ of the quote currency. May be negative (some futures have traded below zero).");
fixed_type!(Qty, "A quantity in units of 10⁻⁸ of the instrument.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_fixed(b"50123.5"), Ok(5_012_350_000_000));
        assert_eq!(parse_fixed(b"0.00000001"), Ok(1));
        assert_eq!(parse_fixed(b"-1.25"), Ok(-125_000_000));
        assert_eq!(parse_fixed(b"1e-3"), Ok(100_000));
        assert_eq!(parse_fixed(b"1.5E2"), Ok(15_000_000_000));
        assert_eq!(parse_fixed(b"0.100000000000"), Ok(10_000_000));
        assert_eq!(parse_fixed(b".5"), Ok(50_000_000));
        assert_eq!(parse_fixed(b"7."), Ok(700_000_000));
        assert_eq!(parse_fixed(b"0"), Ok(0));
        assert_eq!(parse_fixed(b"0e999999999"), Ok(0));
        assert_eq!(parse_fixed(b"0e9999999999999"), Ok(0));
        assert_eq!(parse_fixed(b"1e-9999999999999"), Err(DecimalError::TooPrecise));
        assert_eq!(parse_fixed(b"1e9999999999999"), Err(DecimalError::Overflow));
        assert_eq!(parse_fixed(format!("1.{}", "0".repeat(60)).as_bytes()), Ok(100_000_000));
        assert_eq!(parse_fixed(b"0.10200"), Ok(10_200_000));
    }

    #[test]
    fn refuses_what_it_cannot_keep() {
        assert_eq!(parse_fixed(b""), Err(DecimalError::Empty));
        assert_eq!(parse_fixed(b"0.000000001"), Err(DecimalError::TooPrecise));
        assert_eq!(parse_fixed(b"abc"), Err(DecimalError::Invalid));
        assert_eq!(parse_fixed(b"1.2.3"), Err(DecimalError::Invalid));
        assert_eq!(parse_fixed(b"-"), Err(DecimalError::Invalid));
        assert_eq!(parse_fixed(b"1e"), Err(DecimalError::Invalid));
        assert_eq!(parse_fixed(b"1e5x"), Err(DecimalError::Invalid));
        assert_eq!(parse_fixed(b"1e30"), Err(DecimalError::Overflow));
        assert_eq!(parse_fixed(b"99999999999999999999"), Err(DecimalError::Overflow));
        assert_eq!(parse_fixed(b"NaN"), Err(DecimalError::Invalid));
    }

    #[test]
    fn displays_shortest() {
        assert_eq!(Price(5_012_350_000_000).to_string(), "50123.5");
        assert_eq!(Price(-1).to_string(), "-0.00000001");
        assert_eq!(Qty::from_int(3).to_string(), "3");
    }

    proptest::proptest! {
        #[test]
        fn display_parse_roundtrip(v in proptest::num::i64::ANY) {
            let s = Price(v).to_string();
            proptest::prop_assert_eq!(Price::parse(&s), Ok(Price(v)));
        }
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_fixed(s.as_bytes());
        }
        #[test]
        fn never_panics_on_number_shapes(s in "[-+]?[0-9]{0,45}(\\.[0-9]{0,45})?([eE][-+]?[0-9]{0,14})?") {
            let _ = parse_fixed(s.as_bytes());
        }
        #[test]
        fn exact_against_integer_arithmetic(int in 0i64..1_000_000_000, frac in 0u32..100_000_000, zeros in 0usize..30) {
            let s = format!("{int}.{frac:08}{}", "0".repeat(zeros));
            proptest::prop_assert_eq!(parse_fixed(s.as_bytes()), Ok(int * SCALE + frac as i64));
        }
    }
}
