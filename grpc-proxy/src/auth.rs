//! Authentication: development bearer tokens (HS256 JWTs) signed with the
//! server's key (the data directory's, or the shared store's), identity
//! provider tokens (RS256/ES256, [`jwks`]), and client certificates, each
//! turned into a [`policy_engine::Caller`].
//!
//! A token carries `sub` (the principal: a user or role), `groups`
//! (`ACCOUNT:group/NAME`, all in the principal's account), `attrs` (string
//! map, used by row filters as `${principal.attrs.KEY}`), `exp`, and
//! optionally `iat` and `nbf`. Anything else about the token that does not
//! check out is UNAUTHENTICATED: there is no anonymous caller and no default
//! principal.
//!
//! We check `nbf` and bound the token's lifetime when a token is *verified*,
//! not only when it is minted, because a token may come from anywhere that
//! holds the key: a token valid for longer than the server's maximum
//! (`--max-token-lifetime`) is refused, whatever its signature.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use policy_engine::model::PrincipalKind;
use policy_engine::{Caller, Principal};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::error::{Error, clip};
use crate::status::{ProxyError, status};

mod client_certs;
pub mod jwks;
pub use client_certs::ClientCerts;

/// The signing key's file name inside the data directory.
pub const SIGNING_KEY_FILE: &str = "signing.key";
/// Length of the signing key in bytes.
pub const KEY_LEN: usize = 32;
/// Largest token (and `authorization` header value) we look at.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Most groups a token may carry.
pub const MAX_GROUPS: usize = 256;
/// Most attributes a token may carry.
pub const MAX_ATTRS: usize = 256;
/// Longest attribute key.
pub const MAX_ATTR_KEY_LEN: usize = 128;
/// Default for the longest token lifetime a server accepts
/// (`lakegate serve --max-token-lifetime`): 24 hours.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How far in the future a token's `iat` may lie (clock skew between the
/// minter and this server).
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// How to get a token; appended to every UNAUTHENTICATED message.
pub const HOW_TO_GET_A_TOKEN: &str = "mint one with `lakegate token --data-dir DIR --principal \
     ACCOUNT:user/NAME` (DIR is the server's data directory; `--store URL` instead if the \
     server runs on a shared store) and pass it with --token or LAKEGATE_TOKEN";

/// How to get a token when the server also verifies an identity provider's.
pub const HOW_TO_GET_AN_IDP_TOKEN: &str = "send a token from the identity provider this server \
     trusts (RS256 or ES256, with its issuer and audience), or a development token from \
     `lakegate token`, with --token or LAKEGATE_TOKEN";

/// How to get a token when the server takes only the identity provider's.
pub const HOW_TO_GET_ONLY_AN_IDP_TOKEN: &str = "send a token from the identity provider this \
     server trusts (RS256 or ES256, with its issuer and audience), with --token or \
     LAKEGATE_TOKEN";

/// Why a token was refused. Messages are lower case and name the problem;
/// [`Authenticator::authenticate`] adds how to get a good token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` metadata.
    #[error("no bearer token was sent")]
    Missing,
    /// The header is not `Bearer TOKEN`, or appears twice.
    #[error("the authorization header is malformed ({0}); send `authorization: Bearer TOKEN`")]
    MalformedHeader(&'static str),
    /// The token is larger than [`MAX_TOKEN_BYTES`].
    #[error("the token is {0} bytes; at most {MAX_TOKEN_BYTES} are accepted")]
    TooLarge(usize),
    /// The token's signature does not match this server's key.
    #[error(
        "the token's signature is not valid for this server (was it minted with another data directory's key?)"
    )]
    BadSignature,
    /// The token has expired.
    #[error("the token has expired")]
    Expired,
    /// The token's `nbf` lies in the future.
    #[error(
        "the token is not valid yet (its `nbf` lies in the future); wait, or mint a token without `nbf`"
    )]
    NotYetValid,
    /// The token's `iat` lies in the future (beyond the allowed clock skew).
    #[error(
        "the token was issued in the future (`iat` is ahead of this server's clock); check the clocks"
    )]
    IssuedInFuture,
    /// The token is valid for longer than the server accepts.
    #[error(
        "the token is valid for {lifetime} seconds, longer than this server accepts ({max} seconds, \
         set with `lakegate serve --max-token-lifetime`); mint a shorter-lived token, e.g. \
         `lakegate token --ttl 3600`"
    )]
    LifetimeTooLong {
        /// The token's lifetime in seconds (`exp - iat`, or `exp - now`).
        lifetime: u64,
        /// The server's maximum in seconds.
        max: u64,
    },
    /// The token is not a well-formed HS256 JWT with the claims we need.
    #[error("the token is malformed ({0})")]
    Malformed(String),
    /// `sub` is not a user or role.
    #[error(
        "the token's subject `{0}` is not a user or role (`ACCOUNT:user/NAME` or `ACCOUNT:role/NAME`); groups and accounts cannot authenticate"
    )]
    BadSubject(String),
    /// A group is not a group of the subject's account.
    #[error(
        "`{group}` is not a group of account `{account}`; a token's groups must be `{account}:group/NAME`"
    )]
    BadGroup {
        /// The offending entry.
        group: String,
        /// The subject's account.
        account: String,
    },
    /// An attribute key is not an identifier, or there are too many.
    #[error(
        "attribute `{0}` is not valid; attribute keys are letters, digits and `_` (at most {MAX_ATTR_KEY_LEN}), at most {MAX_ATTRS} attributes"
    )]
    BadAttr(String),
    /// Too many groups.
    #[error("the token names {0} groups; at most {MAX_GROUPS} are accepted")]
    TooManyGroups(usize),
    /// The time-to-live is zero or does not fit.
    #[error("the token lifetime must be between 1 second and 10 years")]
    BadTtl,
    /// A development token, on a server started with `--no-dev-tokens`.
    #[error("development tokens are turned off on this server (--no-dev-tokens)")]
    DevTokensOff,
    /// Signing failed (a bug).
    #[error("could not sign the token: {0}")]
    Sign(String),
}

/// The claims of a lakegate token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    attrs: BTreeMap<String, String>,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn check_subject(p: &Principal) -> Result<(), AuthError> {
    match p.kind() {
        Some(PrincipalKind::User) | Some(PrincipalKind::Role) => Ok(()),
        Some(PrincipalKind::Group) | None => Err(AuthError::BadSubject(clip(&p.to_string()))),
    }
}

fn check_groups(principal: &Principal, groups: &[Principal]) -> Result<(), AuthError> {
    if groups.len() > MAX_GROUPS {
        return Err(AuthError::TooManyGroups(groups.len()));
    }
    for g in groups {
        if !g.is_group() || g.account() != principal.account() {
            return Err(AuthError::BadGroup {
                group: clip(&g.to_string()),
                account: principal.account().to_string(),
            });
        }
    }
    Ok(())
}

fn check_attrs(attrs: &BTreeMap<String, String>) -> Result<(), AuthError> {
    if attrs.len() > MAX_ATTRS {
        return Err(AuthError::BadAttr(format!("({} attributes)", attrs.len())));
    }
    for k in attrs.keys() {
        let ok = !k.is_empty()
            && k.len() <= MAX_ATTR_KEY_LEN
            && k.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(AuthError::BadAttr(clip(k)));
        }
    }
    Ok(())
}

/// Mints an HS256 token for `principal` (a user or role) with `groups`
/// (groups of the principal's account) and `attrs`, valid for `ttl`.
pub fn mint_token(
    key: &[u8],
    principal: &Principal,
    groups: &[Principal],
    attrs: &BTreeMap<String, String>,
    ttl: Duration,
) -> Result<String, AuthError> {
    check_subject(principal)?;
    check_groups(principal, groups)?;
    check_attrs(attrs)?;
    const TEN_YEARS: u64 = 10 * 366 * 24 * 3600;
    if ttl.as_secs() == 0 || ttl.as_secs() > TEN_YEARS {
        return Err(AuthError::BadTtl);
    }
    let iat = now_secs();
    let claims = Claims {
        sub: principal.to_string(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        attrs: attrs.clone(),
        exp: iat.saturating_add(ttl.as_secs()),
        iat: Some(iat),
        nbf: None,
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .map_err(|e| AuthError::Sign(e.to_string()))?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TooLarge(token.len()));
    }
    Ok(token)
}

/// A verified token: the caller it names and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The caller the token names.
    pub caller: Caller,
    /// The token's `exp`, seconds since the epoch. Tickets and handles made
    /// with this token never outlive it.
    pub exp: u64,
}

/// Verifies a token against `key` with the default lifetime bound
/// ([`DEFAULT_MAX_TOKEN_LIFETIME`]) and returns the caller it names.
pub fn verify(key: &[u8], token: &str) -> Result<Caller, AuthError> {
    verify_token(key, token, DEFAULT_MAX_TOKEN_LIFETIME).map(|v| v.caller)
}

/// Checks `nbf`, `iat` and the lifetime: `exp - iat` (or `exp - now` when
/// there is no `iat`, or `iat` is later than now) must not exceed `max`.
fn check_times(c: &Claims, now: u64, max: Duration) -> Result<(), AuthError> {
    if c.nbf.is_some_and(|nbf| nbf > now) {
        return Err(AuthError::NotYetValid);
    }
    let start = match c.iat {
        Some(iat) if iat > now.saturating_add(MAX_CLOCK_SKEW_SECS) => {
            return Err(AuthError::IssuedInFuture);
        }
        Some(iat) => iat.min(now),
        None => now,
    };
    let lifetime = c.exp.saturating_sub(start);
    if lifetime > max.as_secs() {
        return Err(AuthError::LifetimeTooLong {
            lifetime,
            max: max.as_secs(),
        });
    }
    Ok(())
}

/// Verifies a token against `key`, refusing one whose lifetime exceeds
/// `max_lifetime`, and returns the caller it names with its expiry.
pub fn verify_token(
    key: &[u8],
    token: &str,
    max_lifetime: Duration,
) -> Result<Verified, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TooLarge(token.len()));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key), &validation)
        .map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::InvalidSignature => AuthError::BadSignature,
            K::ExpiredSignature => AuthError::Expired,
            K::ImmatureSignature => AuthError::NotYetValid,
            K::InvalidAlgorithm => AuthError::Malformed("only HS256 tokens are accepted".into()),
            K::InvalidToken => AuthError::Malformed(
                "it is not a JWT: three base64url parts separated by dots".into(),
            ),
            K::Base64(_) | K::Json(_) | K::Utf8(_) => AuthError::Malformed(
                "its parts do not decode to the claims `sub`, `groups`, `attrs`, `exp`".into(),
            ),
            K::MissingRequiredClaim(c) => AuthError::Malformed(format!("it has no `{c}` claim")),
            _ => AuthError::Malformed(e.to_string()),
        }
    })?;
    checked(data.claims, max_lifetime)
}

/// The caller that verified claims name, after the checks every token
/// passes whoever signed it: times and lifetime, subject, groups and
/// attributes.
fn checked(c: Claims, max_lifetime: Duration) -> Result<Verified, AuthError> {
    check_times(&c, now_secs(), max_lifetime)?;
    let principal = Principal::parse(&c.sub).map_err(|_| AuthError::BadSubject(clip(&c.sub)))?;
    check_subject(&principal)?;
    if c.groups.len() > MAX_GROUPS {
        return Err(AuthError::TooManyGroups(c.groups.len()));
    }
    let mut groups = Vec::with_capacity(c.groups.len());
    for g in &c.groups {
        let p = Principal::parse(g).map_err(|_| AuthError::BadGroup {
            group: clip(g),
            account: principal.account().to_string(),
        })?;
        if !groups.contains(&p) {
            groups.push(p);
        }
    }
    check_groups(&principal, &groups)?;
    check_attrs(&c.attrs)?;
    Ok(Verified {
        caller: Caller {
            principal,
            groups,
            attrs: c.attrs,
        },
        exp: c.exp,
    })
}

/// Extracts the bearer token from gRPC metadata.
pub fn bearer_token(metadata: &MetadataMap) -> Result<&str, AuthError> {
    let mut all = metadata.get_all("authorization").iter();
    let Some(value) = all.next() else {
        return Err(AuthError::Missing);
    };
    if all.next().is_some() {
        return Err(AuthError::MalformedHeader("it appears more than once"));
    }
    if value.len() > MAX_TOKEN_BYTES + "Bearer ".len() {
        return Err(AuthError::TooLarge(value.len()));
    }
    let text = value
        .to_str()
        .map_err(|_| AuthError::MalformedHeader("it is not ASCII"))?;
    let (scheme, token) = text
        .split_once(' ')
        .ok_or(AuthError::MalformedHeader("no `Bearer ` prefix"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MalformedHeader("the scheme is not `Bearer`"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token)
}

/// Authenticates incoming requests: a bearer token, or else a client
/// certificate listed in the certificate map (mTLS). Shared by every service
/// on the port, so that a credential means the same caller on the governance
/// API as on Flight SQL.
#[derive(Clone)]
pub struct Authenticator {
    key: Vec<u8>,
    jwks: Option<std::sync::Arc<jwks::Jwks>>,
    dev_tokens: bool,
    max_lifetime: Duration,
    client_certs: ClientCerts,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator { key: <redacted> }")
    }
}

impl Authenticator {
    /// An authenticator for tokens signed with `key`, accepting lifetimes up
    /// to [`DEFAULT_MAX_TOKEN_LIFETIME`].
    pub fn new(key: Vec<u8>) -> Self {
        Self {
            key,
            jwks: None,
            dev_tokens: true,
            max_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            client_certs: ClientCerts::default(),
        }
    }

    /// Also accepts RS256 and ES256 tokens of this identity provider.
    pub fn with_jwks(mut self, jwks: jwks::Jwks) -> Self {
        self.jwks = Some(std::sync::Arc::new(jwks));
        self
    }

    /// Refuses development (HS256) tokens: only the identity provider's
    /// tokens and client certificates authenticate (`--no-dev-tokens`).
    pub fn without_dev_tokens(mut self) -> Self {
        self.dev_tokens = false;
        self
    }

    /// Also accepts these client certificates as credentials (mTLS).
    pub fn with_client_certs(mut self, certs: ClientCerts) -> Self {
        self.client_certs = certs;
        self
    }

    /// The caller of a request: its bearer token if it sends one; otherwise
    /// the client certificate it presented, if the certificate map lists it;
    /// otherwise UNAUTHENTICATED, saying what to do.
    pub fn authenticate_request<T>(&self, req: &tonic::Request<T>) -> Result<Credential, Status> {
        if req.metadata().get("authorization").is_none()
            && let Some(certs) = req.peer_certs()
            && let Some(leaf) = certs.first()
        {
            return match self.client_certs.caller(leaf.as_ref()) {
                Some(caller) => Ok(Credential { caller, exp: None }),
                None => Err(status(ProxyError::Unauthenticated(format!(
                    "client certificate {} is not mapped to a principal; add it to \
                     DATA_DIR/client-certs.json or send a bearer token",
                    ClientCerts::fingerprint(leaf.as_ref())
                )))),
            };
        }
        let v = self.authenticate_token(req.metadata())?;
        Ok(Credential {
            caller: v.caller,
            exp: Some(v.exp),
        })
    }

    /// Refuses tokens valid for longer than `max` (`exp - iat`, or
    /// `exp - now` without `iat`).
    pub fn with_max_token_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// The caller a request's `authorization: Bearer TOKEN` metadata names,
    /// or UNAUTHENTICATED saying what is wrong and how to get a token.
    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Caller, Status> {
        self.authenticate_token(metadata).map(|v| v.caller)
    }

    /// Like [`Authenticator::authenticate`], also returning the token's expiry.
    pub fn authenticate_token(&self, metadata: &MetadataMap) -> Result<Verified, Status> {
        bearer_token(metadata)
            .and_then(|t| match &self.jwks {
                Some(jwks) if jwks::Jwks::claims_token(t) => jwks.verify(t, self.max_lifetime),
                _ if !self.dev_tokens => Err(AuthError::DevTokensOff),
                _ => verify_token(&self.key, t, self.max_lifetime),
            })
            .map_err(|e| {
                tracing::debug!(error = %e, "request refused: unauthenticated");
                let how = match (&self.jwks, self.dev_tokens) {
                    (Some(_), true) => HOW_TO_GET_AN_IDP_TOKEN,
                    (Some(_), false) => HOW_TO_GET_ONLY_AN_IDP_TOKEN,
                    (None, _) => HOW_TO_GET_A_TOKEN,
                };
                status(ProxyError::Unauthenticated(format!("{e}; {how}")))
            })
    }
}

/// An authenticated request's credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The caller the credential stands for.
    pub caller: Caller,
    /// When a token expires (`exp`, seconds since the epoch); `None` for a
    /// client certificate, which has no expiry of ours.
    pub exp: Option<u64>,
}

/// The path of the signing key in `data_dir`.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SIGNING_KEY_FILE)
}

fn read_key(path: &Path) -> Result<Vec<u8>, Error> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::Key {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut key = Vec::with_capacity(KEY_LEN);
    (&mut f)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut key)
        .map_err(|e| Error::Key {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if key.len() != KEY_LEN {
        return Err(Error::Key {
            path: path.to_path_buf(),
            message: format!(
                "it holds {} bytes, not {KEY_LEN}; remove it to create a new key (tokens \
                 minted with the old key stop working)",
                if key.len() > KEY_LEN {
                    "more than 32".to_string()
                } else {
                    key.len().to_string()
                }
            ),
        });
    }
    Ok(key)
}

/// Reads the signing key of `data_dir` (for `lakegate token`).
pub fn load_key(data_dir: &Path) -> Result<Vec<u8>, Error> {
    let path = key_path(data_dir);
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::Key {
            path: path.clone(),
            message: format!(
                "there is no signing key; start the server once with `lakegate serve \
                 --data-dir {}` to create it, or pass the --data-dir the server uses",
                data_dir.display()
            ),
        }),
        _ => read_key(&path),
    }
}

/// Reads the signing key of `data_dir`, creating it (32 random bytes, mode
/// 0600) if there is none (for `lakegate serve`).
pub fn load_or_create_key(data_dir: &Path) -> Result<Vec<u8>, Error> {
    let path = key_path(data_dir);
    let mut key = vec![0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut key);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut f) => {
            f.write_all(&key)
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::Key {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            tracing::info!(path = %path.display(), "created a new signing key");
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_key(&path),
        Err(e) => Err(Error::Key {
            path,
            message: e.to_string(),
        }),
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

    fn p(s: &str) -> Principal {
        Principal::parse(s).unwrap()
    }

    const KEY: &[u8] = &[7u8; 32];

    #[test]
    fn round_trip() {
        let mut attrs = BTreeMap::new();
        attrs.insert("region".to_string(), "EU".to_string());
        let t = mint_token(
            KEY,
            &p("111111111111:user/alice"),
            &[p("111111111111:group/analysts")],
            &attrs,
            Duration::from_secs(60),
        )
        .unwrap();
        let c = verify(KEY, &t).unwrap();
        assert_eq!(c.principal, p("111111111111:user/alice"));
        assert_eq!(c.groups, vec![p("111111111111:group/analysts")]);
        assert_eq!(c.attrs, attrs);
    }

    #[test]
    fn refuses_bad_tokens() {
        let none = BTreeMap::new();
        let ttl = Duration::from_secs(60);
        assert!(matches!(
            mint_token(KEY, &p("111111111111:group/g"), &[], &none, ttl),
            Err(AuthError::BadSubject(_))
        ));
        assert!(matches!(
            mint_token(KEY, &p("111111111111"), &[], &none, ttl),
            Err(AuthError::BadSubject(_))
        ));
        assert!(matches!(
            mint_token(
                KEY,
                &p("111111111111:user/a"),
                &[p("222222222222:group/g")],
                &none,
                ttl
            ),
            Err(AuthError::BadGroup { .. })
        ));
        assert!(matches!(
            mint_token(
                KEY,
                &p("111111111111:user/a"),
                &[p("111111111111:user/b")],
                &none,
                ttl
            ),
            Err(AuthError::BadGroup { .. })
        ));
        let t = mint_token(KEY, &p("111111111111:user/a"), &[], &none, ttl).unwrap();
        assert_eq!(verify(&[8u8; 32], &t), Err(AuthError::BadSignature));
        assert!(matches!(verify(KEY, "x.y.z"), Err(AuthError::Malformed(_))));
        assert!(matches!(
            verify(KEY, &"a".repeat(MAX_TOKEN_BYTES + 1)),
            Err(AuthError::TooLarge(_))
        ));
        // A hand-made token whose subject is a group, signed with the right key.
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "111111111111:group/admins".into(),
                groups: vec![],
                attrs: BTreeMap::new(),
                exp: now_secs() + 60,
                iat: None,
                nbf: None,
            },
            &EncodingKey::from_secret(KEY),
        )
        .unwrap();
        assert!(matches!(
            verify(KEY, &forged),
            Err(AuthError::BadSubject(_))
        ));
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "111111111111:user/a".into(),
                groups: vec![],
                attrs: BTreeMap::new(),
                exp: now_secs() - 10,
                iat: None,
                nbf: None,
            },
            &EncodingKey::from_secret(KEY),
        )
        .unwrap();
        assert_eq!(verify(KEY, &expired), Err(AuthError::Expired));
        let other_acct_group = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "111111111111:user/a".into(),
                groups: vec!["222222222222:group/admins".into()],
                attrs: BTreeMap::new(),
                exp: now_secs() + 60,
                iat: None,
                nbf: None,
            },
            &EncodingKey::from_secret(KEY),
        )
        .unwrap();
        assert!(matches!(
            verify(KEY, &other_acct_group),
            Err(AuthError::BadGroup { .. })
        ));
    }

    fn signed(exp: u64, iat: Option<u64>, nbf: Option<u64>) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "111111111111:user/a".into(),
                groups: vec![],
                attrs: BTreeMap::new(),
                exp,
                iat,
                nbf,
            },
            &EncodingKey::from_secret(KEY),
        )
        .unwrap()
    }

    #[test]
    fn token_nbf_and_lifetime_are_checked_at_verification() {
        let now = now_secs();
        let day = Duration::from_secs(24 * 3600);
        // Not valid yet.
        let t = signed(now + 60, Some(now), Some(now + 30));
        assert_eq!(verify_token(KEY, &t, day), Err(AuthError::NotYetValid));
        // A past nbf is fine.
        let t = signed(now + 60, Some(now), Some(now - 30));
        assert!(verify_token(KEY, &t, day).is_ok());
        // Lifetime exp - iat over the maximum.
        let t = signed(now + 3600, Some(now - 24 * 3600), None);
        assert!(matches!(
            verify_token(KEY, &t, day),
            Err(AuthError::LifetimeTooLong { .. })
        ));
        // No iat: exp - now over the maximum.
        let t = signed(now + 10 * 24 * 3600, None, None);
        let e = verify_token(KEY, &t, day).unwrap_err();
        assert!(matches!(e, AuthError::LifetimeTooLong { .. }));
        assert!(e.to_string().contains("--max-token-lifetime"), "{e}");
        // iat in the future cannot shorten the computed lifetime.
        let t = signed(now + 10 * 24 * 3600, Some(now + 10 * 24 * 3600 - 10), None);
        assert_eq!(verify_token(KEY, &t, day), Err(AuthError::IssuedInFuture));
        // Within the bound; `exp` is reported.
        let t = signed(now + 3600, Some(now), None);
        assert_eq!(verify_token(KEY, &t, day).unwrap().exp, now + 3600);
        assert!(verify_token(KEY, &t, Duration::from_secs(60)).is_err());
    }

    #[test]
    fn header_parsing() {
        let mut m = MetadataMap::new();
        assert_eq!(bearer_token(&m), Err(AuthError::Missing));
        m.insert("authorization", "Basic abc".parse().unwrap());
        assert!(matches!(
            bearer_token(&m),
            Err(AuthError::MalformedHeader(_))
        ));
        m.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&m), Ok("abc"));
        m.append("authorization", "Bearer def".parse().unwrap());
        assert!(matches!(
            bearer_token(&m),
            Err(AuthError::MalformedHeader(_))
        ));
    }
}
