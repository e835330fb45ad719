//! `Fixed2`: a decimal with two fraction digits for days, points, focus factors and velocity.
//!
//! Stored as an integer count of hundredths so arithmetic is exact and replays are bit-identical;
//! on the wire it is a plain JSON number (`8.5`). Reading a number rounds it to hundredths, and
//! writing prints the shortest form, so text → value → text is stable.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A non-negative-or-negative decimal with exactly two fraction digits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed2(pub i64);

/// Largest magnitude accepted from input: far beyond any planning, far below f64's exact range.
const MAX_HUNDREDTHS: i64 = 1_000_000_000_000;

impl Fixed2 {
    pub const ZERO: Fixed2 = Fixed2(0);
    pub const ONE: Fixed2 = Fixed2(100);
    /// The largest magnitude that survives the JSON wire form (and so the event log).
    pub const MAX: Fixed2 = Fixed2(MAX_HUNDREDTHS);

    pub fn from_hundredths(h: i64) -> Self {
        Fixed2(h)
    }

    pub fn from_int(n: i64) -> Self {
        Fixed2(n.saturating_mul(100))
    }

    pub fn hundredths(self) -> i64 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// Parses a decimal such as `8`, `0.5`, `12.25` or `½`; `None` if it is not one.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s == "½" {
            return Some(Fixed2(50));
        }
        let v: f64 = s.parse().ok()?;
        Self::from_f64(v)
    }

    fn from_f64(v: f64) -> Option<Self> {
        if !v.is_finite() {
            return None;
        }
        let h = (v * 100.0).round();
        if h.abs() > MAX_HUNDREDTHS as f64 {
            return None;
        }
        Some(Fixed2(h as i64))
    }

    pub fn saturating_add(self, other: Fixed2) -> Fixed2 {
        Fixed2(self.0.saturating_add(other.0))
    }

    /// Product rounded half away from zero to hundredths.
    pub fn times(self, other: Fixed2) -> Fixed2 {
        let p = (self.0 as i128) * (other.0 as i128);
        let q = if p >= 0 {
            (p + 50) / 100
        } else {
            (p - 50) / 100
        };
        Fixed2(q.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }
}

impl fmt::Display for Fixed2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        let (int, frac) = (a / 100, a % 100);
        match frac {
            0 => write!(f, "{sign}{int}"),
            f2 if f2 % 10 == 0 => write!(f, "{sign}{int}.{}", f2 / 10),
            f2 => write!(f, "{sign}{int}.{f2:02}"),
        }
    }
}

impl Serialize for Fixed2 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 100 == 0 {
            s.serialize_i64(self.0 / 100)
        } else {
            s.serialize_f64(self.as_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Fixed2 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Fixed2::from_f64(v).ok_or_else(|| serde::de::Error::custom("number out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn displays_and_parses() {
        assert_eq!(Fixed2::parse("8.5"), Some(Fixed2(850)));
        assert_eq!(Fixed2::parse("½"), Some(Fixed2(50)));
        assert_eq!(Fixed2::parse("abc"), None);
        assert_eq!(Fixed2(850).to_string(), "8.5");
        assert_eq!(Fixed2(805).to_string(), "8.05");
        assert_eq!(Fixed2(-5).to_string(), "-0.05");
        assert_eq!(Fixed2(800).to_string(), "8");
        assert_eq!(Fixed2(850).times(Fixed2(80)), Fixed2(680));
    }

    proptest! {
        #[test]
        fn json_round_trip_is_exact(h in -MAX_HUNDREDTHS..MAX_HUNDREDTHS) {
            let text = serde_json::to_string(&Fixed2(h)).unwrap();
            let back: Fixed2 = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, Fixed2(h));
            prop_assert_eq!(serde_json::to_string(&back).unwrap(), text);
        }
    }
}
