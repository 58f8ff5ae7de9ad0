//! Event time: `i64` nanoseconds since the Unix epoch, UTC. Parsed from integers or RFC 3339 text
//! at the edges; the engine never reads the wall clock (see [`crate::clock`]).

use std::fmt;

/// Nanoseconds since the Unix epoch, UTC.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Ts(pub i64);

pub const NANOS_PER_SEC: i64 = 1_000_000_000;
pub const NANOS_PER_MILLI: i64 = 1_000_000;

/// Why a timestamp could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    #[error("not an integer of nanoseconds nor an RFC 3339 time")]
    Invalid,
    #[error("out of range")]
    Overflow,
}

impl Ts {
    pub const MIN: Ts = Ts(i64::MIN);
    pub const MAX: Ts = Ts(i64::MAX);

    pub const fn from_secs(s: i64) -> Ts {
        Ts(s * NANOS_PER_SEC)
    }
    pub const fn from_millis(ms: i64) -> Ts {
        Ts(ms * NANOS_PER_MILLI)
    }
    pub const fn nanos(self) -> i64 {
        self.0
    }
    pub fn saturating_add(self, d: i64) -> Ts {
        Ts(self.0.saturating_add(d))
    }
    pub fn saturating_sub(self, d: i64) -> Ts {
        Ts(self.0.saturating_sub(d))
    }

    /// Integer nanoseconds (`1718000000123456789`) or RFC 3339 (`2024-06-10T06:13:20.123Z`).
    pub fn parse(s: &[u8]) -> Result<Ts, TsError> {
        if s.is_empty() {
            return Err(TsError::Invalid);
        }
        if s.iter().all(|c| c.is_ascii_digit()) || (s[0] == b'-' && s.len() > 1 && s[1..].iter().all(|c| c.is_ascii_digit())) {
            return parse_int(s);
        }
        parse_rfc3339(s)
    }
}

fn parse_int(s: &[u8]) -> Result<Ts, TsError> {
    let (neg, digits) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
    let mut v: i64 = 0;
    for &c in digits {
        v = v.checked_mul(10).and_then(|v| v.checked_add((c - b'0') as i64)).ok_or(TsError::Overflow)?;
    }
    Ok(Ts(if neg { -v } else { v }))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn num(s: &[u8], a: usize, b: usize) -> Result<u32, TsError> {
    let mut v = 0u32;
    for &c in s.get(a..b).ok_or(TsError::Invalid)? {
        if !c.is_ascii_digit() {
            return Err(TsError::Invalid);
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Ok(v)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fraction](Z|±HH:MM)`; the fraction is kept to the nanosecond.
fn parse_rfc3339(s: &[u8]) -> Result<Ts, TsError> {
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b'T' | b't' | b' ') || s[13] != b':' || s[16] != b':' {
        return Err(TsError::Invalid);
    }
    let y = num(s, 0, 4)? as i64;
    let mo = num(s, 5, 7)?;
    let d = num(s, 8, 10)?;
    let h = num(s, 11, 13)?;
    let mi = num(s, 14, 16)?;
    let se = num(s, 17, 19)?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60 {
        return Err(TsError::Invalid);
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if s[i] == b'.' {
        i += 1;
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            if i - start < 9 {
                frac = frac * 10 + (s[i] - b'0') as i64;
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err(TsError::Invalid);
        }
        for _ in n..9 {
            frac *= 10;
        }
    }
    let offset_secs: i64 = match s.get(i) {
        Some(b'Z' | b'z') if i + 1 == s.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == s.len() && s[i + 3] == b':' => {
            let oh = num(s, i + 1, i + 3)? as i64;
            let om = num(s, i + 4, i + 6)? as i64;
            if oh > 23 || om > 59 {
                return Err(TsError::Invalid);
            }
            let o = oh * 3600 + om * 60;
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return Err(TsError::Invalid),
    };
    // A leap second (:60) is folded into the next second, as POSIX time does.
    let secs = days_from_civil(y, mo, d) * 86_400 + (h as i64) * 3600 + (mi as i64) * 60 + se as i64 - offset_secs;
    secs.checked_mul(NANOS_PER_SEC).and_then(|n| n.checked_add(frac)).map(Ts).ok_or(TsError::Overflow)
}

impl fmt::Display for Ts {
    /// RFC 3339 in UTC with nanoseconds: `2024-06-10T06:13:20.123456789Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(f, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", sod / 3600, (sod / 60) % 60, sod % 60)
    }
}
impl fmt::Debug for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A duration in event time, written in configuration as `"500ms"`, `"60s"`, `"5m"`, `"1h"`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| format!("duration {s:?} has no unit (ns, us, ms, s, m, h, d)"))?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| format!("duration {s:?} does not start with a whole number"))?;
    let mult = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => NANOS_PER_MILLI,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        "d" => 86_400 * NANOS_PER_SEC,
        _ => return Err(format!("duration {s:?} has an unknown unit {unit:?} (ns, us, ms, s, m, h, d)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("duration {s:?} is too long"))
}

/// Writes a duration the way [`parse_duration`] reads it.
pub fn format_duration(ns: i64) -> String {
    for (unit, m) in
        [("d", 86_400 * NANOS_PER_SEC), ("h", 3600 * NANOS_PER_SEC), ("m", 60 * NANOS_PER_SEC), ("s", NANOS_PER_SEC), ("ms", NANOS_PER_MILLI), ("us", 1_000)]
    {
        if ns != 0 && ns % m == 0 {
            return format!("{}{unit}", ns / m);
        }
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_rfc3339() {
        assert_eq!(Ts::parse(b"1718000000123456789"), Ok(Ts(1_718_000_000_123_456_789)));
        assert_eq!(Ts::parse(b"1970-01-01T00:00:00Z"), Ok(Ts(0)));
        assert_eq!(Ts::parse(b"2024-06-10T06:13:20.123Z"), Ok(Ts(1_718_000_000_123_000_000)));
        assert_eq!(Ts::parse(b"2024-06-10T08:13:20.123+02:00"), Ts::parse(b"2024-06-10T06:13:20.123Z"));
        assert_eq!(Ts::parse(b"2012-06-21T09:30:00.000000001-04:00"), Ok(Ts(1_340_285_400_000_000_001)));
    }

    #[test]
    fn rejects_bad_times() {
        for bad in [
            &b"2024-02-30T00:00:00Z"[..],
            b"2024-06-10",
            b"2024-06-10T06:13:20",
            b"2024-13-01T00:00:00Z",
            b"x",
            b"",
            b"99999999999999999999",
            b"2024-06-10T06:13:20.Z",
        ] {
            assert!(Ts::parse(bad).is_err(), "{:?}", std::str::from_utf8(bad));
        }
    }

    #[test]
    fn display_roundtrip() {
        let t = Ts(1_340_285_400_123_456_789);
        assert_eq!(t.to_string(), "2012-06-21T13:30:00.123456789Z");
        assert_eq!(Ts::parse(t.to_string().as_bytes()), Ok(t));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(60 * NANOS_PER_SEC));
        assert_eq!(parse_duration("5ms"), Ok(5 * NANOS_PER_MILLI));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(format_duration(300 * NANOS_PER_SEC), "5m");
        assert_eq!(format_duration(1500 * NANOS_PER_MILLI), "1500ms");
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_jiff(secs in -2_000_000_000i64..8_000_000_000i64, nanos in 0i64..1_000_000_000) {
            let ts = jiff::Timestamp::new(secs, nanos as i32).unwrap();
            let text = ts.to_string();
            proptest::prop_assert_eq!(Ts::parse(text.as_bytes()), Ok(Ts(secs * NANOS_PER_SEC + nanos)));
            let mine = Ts(secs * NANOS_PER_SEC + nanos).to_string();
            let back: jiff::Timestamp = mine.parse().unwrap();
            proptest::prop_assert_eq!(back, ts);
        }
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = Ts::parse(s.as_bytes());
        }
    }
}
