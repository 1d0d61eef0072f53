//! Money: a decimal amount with its ISO 4217 currency. Never a float: amounts travel as
//! decimal strings (`"1250.00"`), are parsed exactly, and keep the scale they were given.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// An ISO 4217 currency with a defined minor unit (so not XAU, XDR, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, String> {
        let c = iso_currency::Currency::from_code(code)
            .ok_or_else(|| format!("{code:?} is not an ISO 4217 currency code"))?;
        if c.exponent().is_none() {
            return Err(format!(
                "{code} has no minor unit; it cannot hold money here"
            ));
        }
        Ok(Self(c))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Decimal places of the minor unit (EUR 2, JPY 0, KWD 3).
    pub fn minor_units(self) -> u32 {
        self.0.exponent().map_or(0, u32::from)
    }

    /// Rounds to the minor unit, half to even (banker's rounding; docs/domain.md).
    /// The result has exactly the minor unit's scale (`80` EUR becomes `80.00`).
    pub fn round(self, value: Decimal) -> Decimal {
        let mut v =
            value.round_dp_with_strategy(self.minor_units(), RoundingStrategy::MidpointNearestEven);
        // A negative amount that rounds to zero is zero, never "-0.00".
        if v.is_zero() {
            v = Decimal::ZERO;
        }
        v.rescale(self.minor_units());
        v
    }
}

impl Currency {
    /// An amount of this currency as a decimal string with exactly its minor unit's
    /// decimals (`0` EUR is `"0.00"`); amounts here never hold finer values.
    pub fn format(self, value: Decimal) -> String {
        self.round(value).to_string()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("ISO 4217 alphabetic code with a minor unit, e.g. EUR"))
            .into()
    }
}
impl ToSchema for Currency {}

/// A decimal written as a JSON string: `-?digits(.digits)?`, nothing else (no exponent,
/// no `+`, no spaces), at most 28 significant digits.
pub fn parse_decimal(s: &str) -> Result<Decimal, String> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let well_formed = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && (!digits.contains('.')
            || (!frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit())));
    if !well_formed {
        return Err(format!(
            "{s:?} is not a decimal string like \"1250.00\" (digits, optional fraction)"
        ));
    }
    Decimal::from_str_exact(s).map_err(|e| format!("{s:?}: {e}"))
}

/// Serde for a `Decimal` held as a JSON string (floats are refused, not rounded).
pub mod decimal_str {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let s = String::deserialize(d)?;
        parse_decimal(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount in a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Decimal string, positive, with at most the currency's minor-unit decimals.
    #[serde(with = "decimal_str")]
    #[schema(value_type = String, example = "250000.00")]
    pub value: Decimal,
    pub currency: Currency,
}

impl Money {
    /// Positive and no finer than the currency's minor unit (`"10.005"` EUR is refused).
    pub fn check(&self, field: &str) -> Result<(), String> {
        if self.value <= Decimal::ZERO {
            return Err(format!("{field} must be positive, got {}", self.value));
        }
        if self.value.normalize().scale() > self.currency.minor_units() {
            return Err(format!(
                "{field} {} has more decimals than {} allows ({})",
                self.value,
                self.currency,
                self.currency.minor_units()
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.currency)
    }
}

impl FromStr for Currency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Currency::parse(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn money(v: &str, c: &str) -> Money {
        serde_json::from_value(serde_json::json!({"value": v, "currency": c})).unwrap()
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(Currency::parse("EUR").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().minor_units(), 3);
        assert!(Currency::parse("XAU").is_err(), "gold has no minor unit");
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("eur").is_err());
    }

    #[test]
    fn a_negative_amount_rounding_to_zero_is_written_zero() {
        let eur = Currency::parse("EUR").unwrap();
        let tiny: Decimal = "-0.004".parse().unwrap();
        assert_eq!(eur.format(tiny), "0.00");
        assert_eq!(eur.format(-Decimal::ZERO), "0.00");
        assert_eq!(
            eur.format("-0.005".parse().unwrap()),
            "0.00",
            "half to even"
        );
        assert_eq!(eur.format("-0.015".parse().unwrap()), "-0.02");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(jpy.format("-0.4".parse().unwrap()), "0");
    }

    #[test]
    fn amounts_are_positive_and_no_finer_than_the_minor_unit() {
        assert!(money("10.00", "EUR").check("amount").is_ok());
        assert!(money("10.50", "EUR").check("amount").is_ok());
        assert!(
            money("10.500", "EUR").check("amount").is_ok(),
            "trailing zeros are not finer"
        );
        assert!(money("10.005", "EUR").check("amount").is_err());
        assert!(money("10.5", "JPY").check("amount").is_err());
        assert!(money("10.125", "KWD").check("amount").is_ok());
        assert!(money("0", "EUR").check("amount").is_err());
        assert!(money("-5", "EUR").check("amount").is_err());
    }

    #[test]
    fn only_plain_decimal_strings_are_money() {
        for bad in ["1e3", "+1", " 1", "1.", ".5", "", "1,5", "0x10", "NaN"] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} must be refused");
        }
        let float: Result<Money, _> =
            serde_json::from_value(serde_json::json!({"value": 10.5, "currency": "EUR"}));
        assert!(float.is_err(), "a JSON float is never money");
        assert_eq!(
            money("1250.00", "EUR").value.to_string(),
            "1250.00",
            "scale is kept"
        );
    }

    #[test]
    fn rounding_is_half_to_even_at_the_minor_unit() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(
            eur.round(Decimal::from_str("2.345").unwrap()).to_string(),
            "2.34"
        );
        assert_eq!(
            eur.round(Decimal::from_str("2.355").unwrap()).to_string(),
            "2.36"
        );
    }
}
