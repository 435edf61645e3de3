//! Sealed tickets and prepared-statement handles (DESIGN §4).
//!
//! A ticket or handle we hand to a client is `base64(json) "." hex(hmac)`:
//! the JSON names the principal it was issued to, when it expires, and the
//! statement it stands for; the HMAC-SHA256 (keyed with a key derived from the
//! deployment's signing key) makes it unforgeable. We put the client's own SQL
//! in it — never the rewritten SQL, which would reveal filter text — so a
//! ticket can be re-planned (and re-authorized) if the catalog changed or the
//! server restarted since it was issued.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tonic::Status;

type HmacSha256 = Hmac<Sha256>;

/// Longest sealed value we try to open.
pub const MAX_SEALED_BYTES: usize = 512 * 1024;

/// What a sealed ticket or handle carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// `stmt` for a statement ticket, `prep` for a prepared statement handle.
    pub kind: String,
    /// The principal it was issued to.
    pub principal: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// The client's SQL.
    pub sql: String,
    /// Server-side plan id (may be gone; then the SQL is planned again).
    pub plan: String,
    /// Upstream endpoint index, for sidecar deployments.
    #[serde(default)]
    pub endpoint: usize,
}

/// Seals and opens tickets with one key.
#[derive(Clone)]
pub struct Sealer {
    key: Vec<u8>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Sealer {
    /// A sealer whose key is derived from the deployment's signing key, so
    /// tokens and tickets never share a key.
    pub fn new(signing_key: &[u8]) -> Self {
        use sha2::Digest;
        let mut h = Sha256::new();
        h.update(b"lakegate ticket sealing key v1\0");
        h.update(signing_key);
        Self {
            key: h.finalize().to_vec(),
        }
    }

    fn mac(&self) -> Result<HmacSha256, Status> {
        <HmacSha256 as Mac>::new_from_slice(&self.key)
            .map_err(|_| Status::internal("ticket key is unusable"))
    }

    /// Seals `s`, valid for `ttl_secs` from now.
    pub fn seal(&self, mut s: Sealed, ttl_secs: u64) -> Result<Vec<u8>, Status> {
        s.exp = now().saturating_add(ttl_secs);
        let json = serde_json::to_vec(&s).map_err(|e| Status::internal(format!("ticket: {e}")))?;
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let mut mac = self.mac()?;
        mac.update(body.as_bytes());
        let tag = hex::encode(mac.finalize().into_bytes());
        Ok(format!("{body}.{tag}").into_bytes())
    }

    /// Opens a sealed value for `principal`. A forged, altered, expired or
    /// foreign ticket is an error that says what to do.
    pub fn open(&self, bytes: &[u8], kind: &str, principal: &str) -> Result<Sealed, Status> {
        let bad = || {
            Status::permission_denied(
                "this ticket or statement handle is not valid for you (it was issued to another \
                 principal, altered, or has expired); run the query again",
            )
        };
        if bytes.len() > MAX_SEALED_BYTES {
            return Err(bad());
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad())?;
        let (body, tag) = text.rsplit_once('.').ok_or_else(bad)?;
        let tag = hex::decode(tag).map_err(|_| bad())?;
        let mut mac = self.mac()?;
        mac.update(body.as_bytes());
        mac.verify_slice(&tag).map_err(|_| bad())?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| bad())?;
        let s: Sealed = serde_json::from_slice(&json).map_err(|_| bad())?;
        if s.kind != kind || s.principal != principal || s.exp < now() {
            return Err(bad());
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    fn sample() -> Sealed {
        Sealed {
            kind: "stmt".into(),
            principal: "111111111111:user/alice".into(),
            exp: 0,
            sql: "SELECT 1".into(),
            plan: "p1".into(),
            endpoint: 0,
        }
    }

    #[test]
    fn round_trip_for_the_same_principal() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let t = s.seal(sample(), 60).unwrap();
        let o = s.open(&t, "stmt", "111111111111:user/alice").unwrap();
        assert_eq!(o.sql, "SELECT 1");
    }

    #[test]
    fn another_principal_kind_key_or_alteration_is_refused() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let t = s.seal(sample(), 60).unwrap();
        assert!(s.open(&t, "stmt", "111111111111:user/bob").is_err());
        assert!(s.open(&t, "prep", "111111111111:user/alice").is_err());
        let other = Sealer::new(b"another key, another deployment!");
        assert!(other.open(&t, "stmt", "111111111111:user/alice").is_err());
        let mut altered = t.clone();
        altered[3] ^= 1;
        assert!(s.open(&altered, "stmt", "111111111111:user/alice").is_err());
        let expired = s.seal(sample(), 0).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(s.open(&expired, "stmt", "111111111111:user/alice").is_err());
    }
}
