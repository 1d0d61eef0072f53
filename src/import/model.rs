//! The parts of an OCDS 1.1 release the import reads (release schema 1.1.5 and the bid
//! extension), deserialised leniently: every field may be missing or `null`, unknown
//! fields are ignored, ids may be strings or integers. Amounts are kept as the JSON
//! number's own text (`RawValue`) and parsed as exact decimals: a float never touches
//! money.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A `null` or missing array reads as empty.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// An OCDS id: a string or an integer (`"1"` and `1` are the same id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(i64),
            U(u64),
        }
        Ok(Id(match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::I(i) => i.to_string(),
            Raw::U(u) => u.to_string(),
        }))
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub ocid: Option<String>,
    pub date: Option<String>,
    /// `["tender"]`, `["compiled"]`, ...: whether the release is its process as a whole
    /// (`read`).
    pub tag: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "list")]
    pub parties: Vec<Party>,
    pub buyer: Option<OrgRef>,
    pub tender: Option<Tender>,
    pub bids: Option<Bids>,
    #[serde(default, deserialize_with = "list")]
    pub awards: Vec<Award>,
    #[serde(default, deserialize_with = "list")]
    pub contracts: Vec<Contract>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Identifier {
    pub scheme: Option<String>,
    pub id: Option<Id>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Party {
    pub id: Option<Id>,
    pub name: Option<String>,
    pub identifier: Option<Identifier>,
    #[serde(default, deserialize_with = "list")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrgRef {
    pub id: Option<Id>,
    pub name: Option<String>,
    /// Older-style references (OCDS 1.0, and publishers without `parties`) carry the
    /// organisation's identifier inline.
    pub identifier: Option<Identifier>,
}

/// `value`: the amount as written (a JSON number, or `null`) and its currency.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Value {
    pub amount: Option<Box<RawValue>>,
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub max_extent_date: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Classification {
    pub scheme: Option<String>,
    pub id: Option<Id>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Item {
    pub classification: Option<Classification>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tender {
    pub id: Option<Id>,
    pub title: Option<String>,
    pub procuring_entity: Option<OrgRef>,
    #[serde(default, deserialize_with = "list")]
    pub items: Vec<Item>,
    pub value: Option<Value>,
    pub procurement_method: Option<String>,
    pub main_procurement_category: Option<String>,
    pub status: Option<String>,
    pub tender_period: Option<Period>,
    pub number_of_tenderers: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Bids {
    #[serde(default, deserialize_with = "list")]
    pub details: Vec<Bid>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bid {
    pub id: Option<Id>,
    pub date: Option<String>,
    pub status: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub tenderers: Vec<OrgRef>,
    pub value: Option<Value>,
    #[serde(default, deserialize_with = "list")]
    pub related_lots: Vec<Id>,
    /// Singular form some publishers use (Prozorro).
    pub related_lot: Option<Id>,
}

impl Bid {
    /// The lot the bid is for (the first related lot).
    pub fn lot(&self) -> Option<&Id> {
        self.related_lots.first().or(self.related_lot.as_ref())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Award {
    pub id: Option<Id>,
    pub status: Option<String>,
    pub date: Option<String>,
    pub value: Option<Value>,
    #[serde(default, deserialize_with = "list")]
    pub suppliers: Vec<OrgRef>,
    #[serde(default, deserialize_with = "list")]
    pub related_lots: Vec<Id>,
    pub related_lot: Option<Id>,
}

impl Award {
    /// The lot the award is for (the first related lot).
    pub fn lot(&self) -> Option<&Id> {
        self.related_lots.first().or(self.related_lot.as_ref())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    pub id: Option<Id>,
    #[serde(rename = "awardID")]
    pub award_id: Option<Id>,
    pub status: Option<String>,
    pub period: Option<Period>,
    pub value: Option<Value>,
    pub date_signed: Option<String>,
    pub implementation: Option<Implementation>,
    #[serde(default, deserialize_with = "list")]
    pub amendments: Vec<Amendment>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Implementation {
    #[serde(default, deserialize_with = "list")]
    pub transactions: Vec<Transaction>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Transaction {
    pub id: Option<Id>,
    pub date: Option<String>,
    pub value: Option<Value>,
    /// Deprecated in 1.1 (`value` replaces it); read when `value` is absent.
    pub amount: Option<Value>,
    pub payee: Option<OrgRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Amendment {
    pub id: Option<Id>,
    pub date: Option<String>,
    pub rationale: Option<String>,
    pub description: Option<String>,
    /// Deprecated in 1.1 but the only structured statement of what an amendment changed
    /// inside one compiled release.
    #[serde(default, deserialize_with = "list")]
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Change {
    pub property: Option<String>,
    pub former_value: Option<Box<RawValue>>,
}
