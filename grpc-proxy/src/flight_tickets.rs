//! Sealed tickets and prepared-statement handles (DESIGN §4).
//!
//! A ticket or handle we hand to a client is `base64(json) "." hex(hmac)`:
//! the JSON names the principal it was issued to, when it expires, and the
//! statement it stands for; the HMAC-SHA256 (keyed with a key derived from the
//! deployment's signing key) makes it unforgeable. We put the client's own SQL
//! in it — never the rewritten SQL, which would reveal filter text — so a
//! ticket can be re-planned (and re-authorized) if the catalog changed or the
//! server restarted since it was issued.
//!
//! A sealed value is bound to the *whole* caller — principal, groups and
//! attributes, as [`caller_fingerprint`] — because a ticket made with one
//! token must not return that token's view to another token of the same
//! `sub` with other groups or attributes. It never outlives the token that
//! made it: its `exp` is the earlier of the ticket TTL and the token's `exp`.

use std::time::{SystemTime, UNIX_EPOCH};

use policy_engine::Caller;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tonic::Status;

use crate::status::{ProxyError, status};

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
    /// [`caller_fingerprint`] of the caller it was issued to (principal,
    /// groups and attributes).
    pub caller: String,
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

/// A canonical digest of the whole caller: principal, groups (sorted) and
/// attributes (sorted by key), as lower-case hex SHA-256. Two callers with
/// the same fingerprint see exactly the same data.
pub fn caller_fingerprint(caller: &Caller) -> String {
    use sha2::Digest;
    let mut groups: Vec<String> = caller.groups.iter().map(|g| g.to_string()).collect();
    groups.sort();
    groups.dedup();
    let mut h = Sha256::new();
    h.update(b"lakegate caller v1\0");
    // Length-prefixed fields, so no two callers share an encoding.
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    field(caller.principal.to_string().as_bytes());
    field(&(groups.len() as u64).to_be_bytes());
    for g in &groups {
        field(g.as_bytes());
    }
    field(&(caller.attrs.len() as u64).to_be_bytes());
    for (k, v) in &caller.attrs {
        field(k.as_bytes());
        field(v.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Seconds since the epoch.
pub fn now() -> u64 {
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
            .map_err(|_| status(ProxyError::Internal("ticket key is unusable".into())))
    }

    /// Seals `s`, valid for `ttl_secs` from now but never past `not_after`
    /// (the expiry of the token that asked for it, seconds since the epoch).
    pub fn seal(&self, mut s: Sealed, ttl_secs: u64, not_after: u64) -> Result<Vec<u8>, Status> {
        s.exp = now().saturating_add(ttl_secs).min(not_after);
        let json = serde_json::to_vec(&s)
            .map_err(|e| status(ProxyError::Internal(format!("ticket: {e}"))))?;
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let mut mac = self.mac()?;
        mac.update(body.as_bytes());
        let tag = hex::encode(mac.finalize().into_bytes());
        Ok(format!("{body}.{tag}").into_bytes())
    }

    /// Opens a sealed value for `caller`: same principal, groups and
    /// attributes as the caller it was issued to, not expired. A forged,
    /// altered, expired or foreign ticket is an error that says what to do.
    pub fn open(&self, bytes: &[u8], kind: &str, caller: &Caller) -> Result<Sealed, Status> {
        let bad = || {
            status(ProxyError::Policy(policy_engine::Error::denied(
                "this ticket or statement handle is not valid for you (it was issued to another \
                 principal or to a token with other groups or attributes, altered, or has \
                 expired); run the query again",
            )))
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
        if s.kind != kind
            || s.principal != caller.principal.to_string()
            || s.caller != caller_fingerprint(caller)
            || s.exp <= now()
        {
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
        clippy::indexing_slicing,
        reason = "test code: a panic is a failed test"
    )]
    use super::*;

    fn who(p: &str, attrs: &[(&str, &str)]) -> Caller {
        let mut c = Caller::new(policy_engine::Principal::parse(p).unwrap());
        for (k, v) in attrs {
            c.attrs.insert(k.to_string(), v.to_string());
        }
        c
    }

    fn alice() -> Caller {
        who("111111111111:user/alice", &[])
    }

    fn sample() -> Sealed {
        Sealed {
            kind: "stmt".into(),
            principal: "111111111111:user/alice".into(),
            caller: caller_fingerprint(&alice()),
            exp: 0,
            sql: "SELECT 1".into(),
            plan: "p1".into(),
            endpoint: 0,
        }
    }

    #[test]
    fn round_trip_for_the_same_principal() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let t = s.seal(sample(), 60, u64::MAX).unwrap();
        let o = s.open(&t, "stmt", &alice()).unwrap();
        assert_eq!(o.sql, "SELECT 1");
    }

    #[test]
    fn another_principal_kind_key_or_alteration_is_refused() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let t = s.seal(sample(), 60, u64::MAX).unwrap();
        assert!(
            s.open(&t, "stmt", &who("111111111111:user/bob", &[]))
                .is_err()
        );
        assert!(s.open(&t, "prep", &alice()).is_err());
        let other = Sealer::new(b"another key, another deployment!");
        assert!(other.open(&t, "stmt", &alice()).is_err());
        let mut altered = t.clone();
        altered[3] ^= 1;
        assert!(s.open(&altered, "stmt", &alice()).is_err());
        let expired = s.seal(sample(), 0, u64::MAX).unwrap();
        assert!(s.open(&expired, "stmt", &alice()).is_err());
    }

    #[test]
    fn ticket_bound_to_whole_caller_and_token_expiry() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let t = s.seal(sample(), 60, u64::MAX).unwrap();
        // Same principal, other attributes or groups: refused.
        let eu = who("111111111111:user/alice", &[("region", "EU")]);
        assert!(s.open(&t, "stmt", &eu).is_err());
        let mut grouped = alice();
        grouped
            .groups
            .push(policy_engine::Principal::parse("111111111111:group/g").unwrap());
        assert!(s.open(&t, "stmt", &grouped).is_err());
        // Never past the token's expiry.
        let short = s.seal(sample(), 600, now()).unwrap();
        assert!(s.open(&short, "stmt", &alice()).is_err());
        // Group order does not matter; attribute values do.
        let mut a = alice();
        let mut b = alice();
        let g1 = policy_engine::Principal::parse("111111111111:group/a").unwrap();
        let g2 = policy_engine::Principal::parse("111111111111:group/b").unwrap();
        a.groups = vec![g1.clone(), g2.clone()];
        b.groups = vec![g2, g1];
        assert_eq!(caller_fingerprint(&a), caller_fingerprint(&b));
        assert_ne!(
            caller_fingerprint(&who("111111111111:user/alice", &[("k", "v1")])),
            caller_fingerprint(&who("111111111111:user/alice", &[("k", "v2")]))
        );
    }
}
