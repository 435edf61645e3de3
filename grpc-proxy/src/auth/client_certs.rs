//! Client certificates that authenticate as principals (mTLS): the map in
//! `DATA_DIR/client-certs.json`.

use std::collections::HashMap;

use policy_engine::Caller;
use sha2::{Digest, Sha256};

/// Client certificates that authenticate as principals (mTLS): SHA-256 of
/// the certificate's DER (lower-case hex) → the caller it stands for.
#[derive(Clone, Debug, Default)]
pub struct ClientCerts {
    by_fingerprint: HashMap<String, Caller>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CertEntry {
    principal: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    attrs: std::collections::BTreeMap<String, String>,
}

impl ClientCerts {
    /// Parses `{"<sha256 hex>": {"principal": "ACCOUNT:user/NAME", "groups": [...], "attrs": {...}}}`.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: HashMap<String, CertEntry> =
            serde_json::from_str(json).map_err(|e| format!("not a certificate map: {e}"))?;
        let mut by_fingerprint = HashMap::new();
        for (fp, e) in raw {
            let fp = fp.to_ascii_lowercase().replace(':', "");
            if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "`{fp}` is not a SHA-256 fingerprint (64 hex digits)"
                ));
            }
            let principal =
                policy_engine::Principal::parse(&e.principal).map_err(|x| x.to_string())?;
            let mut caller = Caller::new(principal);
            for g in &e.groups {
                let g = policy_engine::Principal::parse(g).map_err(|x| x.to_string())?;
                if !g.is_group() || g.account() != caller.account() {
                    return Err(format!("`{g}` is not a group of the principal's account"));
                }
                caller.groups.push(g);
            }
            caller.attrs = e.attrs;
            by_fingerprint.insert(fp, caller);
        }
        Ok(Self { by_fingerprint })
    }

    /// The caller a certificate (DER) maps to.
    pub fn caller(&self, der: &[u8]) -> Option<Caller> {
        self.by_fingerprint.get(&Self::fingerprint(der)).cloned()
    }

    /// A certificate's (DER) fingerprint as the map spells it.
    pub fn fingerprint(der: &[u8]) -> String {
        hex::encode(Sha256::digest(der))
    }
}
