//! An organisation as every API names it: `{id, name}`. A donor, a ministry, a vendor or a
//! secretariat is a party of an entry, a report or a contract; clients never have to look
//! a bare id up.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::schema::organizations;

/// An organisation named in an answer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct Party {
    pub id: Uuid,
    pub name: String,
}

/// The names of `ids` (one query; an id without organisation is left out).
pub fn names(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<HashMap<Uuid, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(organizations::table
        .filter(organizations::id.eq_any(ids))
        .select((organizations::id, organizations::name))
        .load::<(Uuid, String)>(conn)?
        .into_iter()
        .collect())
}

/// `id` as a party, named from `names` (an empty name when the organisation is unknown).
pub fn party(names: &HashMap<Uuid, String>, id: Uuid) -> Party {
    Party {
        id,
        name: names.get(&id).cloned().unwrap_or_default(),
    }
}
