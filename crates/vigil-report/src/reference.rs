//! What the store does not know and a report needs: the submitting firm and person, the identity of
//! the persons behind accounts, the instruments' identifiers. Kept by the desk in a TOML file:
//!
//! ```toml
//! [submitter]
//! entity_name = "Example Exchange Ltd"
//! entity_lei = "5493001KJTIIGC8Y1R12"
//! entity_type = "market operator (trading venue)"
//! entity_address = "1 Market Street, Dublin"
//! person_name = "A. Officer"
//! person_position = "Head of Market Surveillance"
//! email = "surveillance@example.com"
//! phone = "+353 1 000 0000"
//!
//! [accounts.acct-17]
//! name = "Jane Trader"
//! birth_date = "1980-02-03"
//! national_id = "IE1234567T"
//! address = "2 Side Street, Cork"
//! client_id = "C-0017"
//!
//! [instruments.BTC-USD]
//! name = "Bitcoin / US dollar spot"
//! identifier = "DTI 4H95J0R2X"
//! kind = "crypto-asset"
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    #[serde(default)]
    pub submitter: Submitter,
    /// By account id.
    #[serde(default)]
    pub accounts: BTreeMap<String, Party>,
    /// By symbol, as the events name it.
    #[serde(default)]
    pub instruments: BTreeMap<String, InstrumentRef>,
}

/// STOR section 1: who submits.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Submitter {
    pub entity_name: Option<String>,
    pub entity_lei: Option<String>,
    /// Investment firm, market operator, crypto-asset service provider, …
    pub entity_type: Option<String>,
    pub entity_address: Option<String>,
    pub person_name: Option<String>,
    pub person_position: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The entity's relationship with the persons reported (client, member, none).
    pub relationship: Option<String>,
}

/// STOR section 4: a person behind an account.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub name: Option<String>,
    pub birth_date: Option<String>,
    pub national_id: Option<String>,
    pub address: Option<String>,
    pub client_id: Option<String>,
    pub employment: Option<String>,
    pub relationship_to_issuer: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentRef {
    pub name: Option<String>,
    /// ISIN, DTI, or the venue's code.
    pub identifier: Option<String>,
    pub kind: Option<String>,
}

impl Reference {
    /// Reads a reference file; errors name the file, and the line and field where TOML says.
    pub fn load(path: &str) -> crate::Result<Reference> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::Error::Invalid(format!("{path}: {e}")))?;
        toml::from_str(&text).map_err(|e| crate::Error::Invalid(format!("{path}: {e}")))
    }
}
