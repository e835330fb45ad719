//! Times on the wire: microseconds since the epoch (UTC), as the protocol says, with an
//! RFC 3339 UTC twin so a client can show a time in the viewer's own zone without epoch
//! arithmetic.

use crate::domain::event::Micros;

/// RFC 3339 UTC, with as many fractional digits as the time needs (`2026-06-16T09:00:00Z`);
/// the micros as text if the time is out of range.
pub fn rfc3339(at: Micros) -> String {
    // jiff's `Display` of a timestamp is RFC 3339 in UTC (`Z`) with the fraction trimmed.
    jiff::Timestamp::from_microsecond(at)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// A time field as views show it: the micros under the field's own name and the RFC 3339
/// twin under `<name>_utc`; a time not set shows as `null`, without a twin. Flattened into
/// the view that holds it (`#[serde(flatten)] deadline: Utc`, built with
/// `Utc::new("deadline", at)`), so the twin sits next to the field it mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    name: &'static str,
    at: Option<Micros>,
}

impl Utc {
    pub fn new(name: &'static str, at: Micros) -> Self {
        Self { name, at: Some(at) }
    }

    pub fn maybe(name: &'static str, at: Option<Micros>) -> Self {
        Self { name, at }
    }
}

impl serde::Serialize for Utc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(self.name, &self.at)?;
        if let Some(at) = self.at {
            map.serialize_entry(&format!("{}_utc", self.name), &rfc3339(at))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Round {
        id: u32,
        #[serde(flatten)]
        deadline: Utc,
        #[serde(flatten)]
        closed_at: Utc,
    }

    #[test]
    fn a_time_serialises_as_micros_with_a_utc_twin() {
        let r = Round {
            id: 1,
            deadline: Utc::new("deadline", 1_781_600_400_000_000),
            closed_at: Utc::maybe("closed_at", None),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"id":1,"deadline":1781600400000000,"deadline_utc":"2026-06-16T09:00:00Z","closed_at":null}"#
        );
        assert_eq!(rfc3339(1), "1970-01-01T00:00:00.000001Z");
    }
}
