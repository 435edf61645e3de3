//! Production identity: RS256 and ES256 tokens from an identity provider,
//! verified with the keys of its JWKS (`--jwks-url URL` or `--jwks-file
//! FILE`), with the issuer and audience checked, and their claims mapped to
//! a principal, groups and attributes (DESIGN §1: any node verifies any
//! token).
//!
//! Keys are chosen by the token's `kid` and cached. A token whose `kid` is
//! not cached makes the set be fetched again (at most once per
//! `--jwks-min-refresh`, default [`MIN_REFRESH_INTERVAL`], so unknown `kid`s cannot make us hammer the
//! provider), which is how a key rotation needs no restart. While the
//! provider is unreachable, tokens signed with cached keys still verify
//! until they expire; an unknown `kid` is refused.
//!
//! The mapping fails closed. A claim that does not map (a principal of
//! another account, a group that is not a name, an attribute that is an
//! object) refuses the token rather than dropping the value: dropping a
//! group could escape a deny rule written for that group.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, RwLock, mpsc};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use policy_engine::Principal;
use policy_engine::model::{AccountId, PrincipalKind};
use serde_json::Value;

use super::{AuthError, Claims, MAX_TOKEN_BYTES, Verified};
use crate::error::clip;

/// Default least time between two fetches of the key set.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// How long fetched keys are trusted without fetching the set again: a key
/// the provider withdrew stops verifying within this time.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// How long one fetch of the key set may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest key set we read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Where the key set comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// `--jwks-url`: fetched over HTTP(S), again on an unknown `kid`.
    Url(String),
    /// `--jwks-file`: read again on an unknown `kid`.
    File(PathBuf),
}

/// How a token's claims become a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The account the identity provider's principals belong to
    /// (`--jwt-account`); a bare name becomes `ACCOUNT:user/NAME`.
    pub account: AccountId,
    /// The claim naming the principal (`--jwt-principal-claim`, default
    /// `sub`): a bare name, or `ACCOUNT:user/NAME` of that account. Pick a
    /// claim the provider controls, never one users can edit.
    pub principal_claim: String,
    /// The claim listing groups (`--jwt-groups-claim`, default `groups`):
    /// bare names become `ACCOUNT:group/NAME`.
    pub groups_claim: String,
    /// Whether a token without the groups claim means "no groups"
    /// (`--jwt-groups-optional`). Off by default: a provider that left the
    /// claim out (a typo in the claim name, a group overage) would otherwise
    /// let the caller escape deny rules written for its groups.
    pub groups_optional: bool,
    /// Attributes for row filters (`--jwt-attr NAME=CLAIM`): each from a
    /// claim (dotted for nested objects) holding a string, number or boolean.
    pub attrs: Vec<(String, String)>,
}

/// `--jwks-*` and `--jwt-*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksConfig {
    /// Where the keys come from.
    pub source: JwksSource,
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud` (one of the token's audiences).
    pub audience: String,
    /// Claims to caller.
    pub mapping: ClaimMapping,
    /// The least time between two fetches of the key set
    /// (`--jwks-min-refresh`, default [`MIN_REFRESH_INTERVAL`]).
    pub min_refresh: Duration,
}

struct Cached {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
}

/// The verifier: configuration and the cached keys.
pub struct Jwks {
    config: JwksConfig,
    cache: RwLock<Cached>,
    /// Held while fetching, so concurrent unknown `kid`s fetch once.
    refreshing: Mutex<()>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("source", &self.config.source)
            .finish_non_exhaustive()
    }
}

/// The algorithm a key verifies, or `None` for keys we do not accept: a
/// key published for encryption, for other operations than `verify`, or
/// for another algorithm than RS256/ES256 is not used, whatever its type.
fn algorithm(jwk: &Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::{KeyAlgorithm, KeyOperations, PublicKeyUse};
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    if jwk
        .common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return None;
    }
    let declared = jwk.common.key_algorithm;
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_)
            if declared.is_none() || declared == Some(KeyAlgorithm::RS256) =>
        {
            Some(Algorithm::RS256)
        }
        AlgorithmParameters::EllipticCurve(p)
            if p.curve == EllipticCurve::P256
                && (declared.is_none() || declared == Some(KeyAlgorithm::ES256)) =>
        {
            Some(Algorithm::ES256)
        }
        _ => None,
    }
}

/// The usable keys of a JWKS document: RSA and P-256 keys with a `kid`.
/// Other keys are skipped (a provider may publish keys for other uses).
fn parse_set(bytes: &[u8]) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("it has no `keys` array")?;
    let mut out = HashMap::new();
    for key in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(key.clone()) else {
            continue;
        };
        let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), algorithm(&jwk)) else {
            continue;
        };
        if let Ok(decoding) = DecodingKey::from_jwk(&jwk) {
            out.insert(kid, (decoding, alg));
        }
    }
    Ok(out)
}

/// Fetches `url` on a thread of its own (callers may be on an async
/// runtime, which must not block on another), within [`FETCH_TIMEOUT`].
fn fetch_url(url: &str) -> Result<Vec<u8>, String> {
    let (tx, rx) = mpsc::sync_channel(1);
    let url = url.to_string();
    std::thread::Builder::new()
        .name("lakegate-jwks".into())
        .spawn(move || {
            let out = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|rt| {
                    rt.block_on(async {
                        let client = reqwest::Client::builder()
                            .timeout(FETCH_TIMEOUT)
                            .build()
                            .map_err(|e| e.to_string())?;
                        let mut resp = client
                            .get(&url)
                            .send()
                            .await
                            .and_then(|r| r.error_for_status())
                            .map_err(|e| e.to_string())?;
                        let mut body = Vec::new();
                        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
                            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                                return Err(format!("it is larger than {MAX_JWKS_BYTES} bytes"));
                            }
                            body.extend_from_slice(&chunk);
                        }
                        Ok(body)
                    })
                });
            let _ = tx.send(out);
        })
        .map_err(|e| format!("cannot start the fetch: {e}"))?;
    rx.recv_timeout(FETCH_TIMEOUT + Duration::from_secs(1))
        .map_err(|_| format!("no answer within {FETCH_TIMEOUT:?}"))?
}

impl Jwks {
    /// A verifier; loads the key set now. A file that cannot be read or
    /// parsed is an error (the server refuses to start); an unreachable URL
    /// is logged, and the set is fetched again on the first token.
    pub fn new(config: JwksConfig) -> Result<Self, String> {
        if let JwksSource::Url(url) = &config.source {
            check_url(url)?;
        }
        let jwks = Self {
            config,
            cache: RwLock::new(Cached {
                keys: HashMap::new(),
                fetched: None,
            }),
            refreshing: Mutex::new(()),
        };
        match (jwks.load(), &jwks.config.source) {
            (Ok(keys), _) => jwks.store(keys),
            (Err(e), JwksSource::File(_)) => return Err(e),
            (Err(e), JwksSource::Url(url)) => {
                tracing::error!(%url, error = %e, "cannot fetch the JWKS yet; tokens from the identity provider are refused until it can be fetched");
            }
        }
        Ok(jwks)
    }

    fn load(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
        let (bytes, what) = match &self.config.source {
            JwksSource::Url(url) => (fetch_url(url), url.clone()),
            JwksSource::File(path) => (
                std::fs::read(path).map_err(|e| e.to_string()),
                path.display().to_string(),
            ),
        };
        bytes
            .and_then(|b| parse_set(&b))
            .map_err(|e| format!("cannot read the JWKS `{what}`: {e}"))
    }

    fn store(&self, keys: HashMap<String, (DecodingKey, Algorithm)>) {
        if let Ok(mut cache) = self.cache.write() {
            cache.keys = keys;
            cache.fetched = Some(Instant::now());
        }
    }

    fn cached(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.cache.read().ok()?.keys.get(kid).cloned()
    }

    /// The key for `kid`: cached, or after fetching the set again (unless
    /// it was fetched less than `min_refresh` ago). The set is also fetched
    /// again once it is [`MAX_KEY_AGE`] old, dropping withdrawn keys. A
    /// failed fetch keeps the cached keys.
    fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        let age = self.cache.read().ok()?.fetched.map(|t| t.elapsed());
        let stale = age.is_none_or(|a| a >= MAX_KEY_AGE);
        if !stale && let Some(k) = self.cached(kid) {
            return Some(k);
        }
        // One caller fetches; the others do not wait for it (a flood of
        // unknown `kid`s must not park every worker): they use what is
        // cached, and an unknown `kid` is refused.
        let Ok(_one_fetch) = self.refreshing.try_lock() else {
            return self.cached(kid);
        };
        // Another caller may have fetched just before we took the lock.
        let age = self.cache.read().ok()?.fetched.map(|t| t.elapsed());
        let recent = age.is_some_and(|a| a < self.config.min_refresh);
        if recent {
            return self.cached(kid);
        }
        match off_the_runtime(|| self.load()) {
            Ok(keys) => self.store(keys),
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed; keeping the cached keys");
                // Count the attempt, so a dead provider is not asked on
                // every request.
                if let Ok(mut cache) = self.cache.write() {
                    cache.fetched = Some(Instant::now());
                }
            }
        }
        self.cached(kid)
    }

    /// Whether `token` is for this verifier: its header names RS256 or
    /// ES256 (development tokens are HS256).
    pub fn claims_token(token: &str) -> bool {
        jsonwebtoken::decode_header(token)
            .is_ok_and(|h| matches!(h.alg, Algorithm::RS256 | Algorithm::ES256))
    }

    /// Verifies an identity provider's token and maps its claims.
    pub fn verify(&self, token: &str, max_lifetime: Duration) -> Result<Verified, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge(token.len()));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Malformed("its header is not a JWT header".into()))?;
        let kid = header.kid.ok_or_else(|| {
            AuthError::Malformed(
                "it has no `kid`; the identity provider's tokens name their key".into(),
            )
        })?;
        let (key, alg) = self.key(&kid).ok_or_else(|| {
            AuthError::Malformed(format!(
                "its key `{}` is not in the identity provider's key set",
                clip(&kid)
            ))
        })?;
        if header.alg != alg {
            return Err(AuthError::Malformed(format!(
                "its algorithm {:?} does not match key `{}` ({alg:?})",
                header.alg,
                clip(&kid)
            )));
        }
        let mut validation = Validation::new(alg);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<BTreeMap<String, Value>>(token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::InvalidSignature => AuthError::BadSignature,
                    K::ExpiredSignature => AuthError::Expired,
                    K::ImmatureSignature => AuthError::NotYetValid,
                    K::InvalidIssuer => {
                        AuthError::Malformed(format!("its issuer is not `{}`", self.config.issuer))
                    }
                    K::InvalidAudience => AuthError::Malformed(format!(
                        "its audience does not include `{}`",
                        self.config.audience
                    )),
                    K::MissingRequiredClaim(c) => {
                        AuthError::Malformed(format!("it has no `{c}` claim"))
                    }
                    _ => AuthError::Malformed(e.to_string()),
                }
            })?;
        self.map_claims(&data.claims, max_lifetime)
    }

    /// Claims to caller, through the same checks as development tokens.
    fn map_claims(
        &self,
        claims: &BTreeMap<String, Value>,
        max_lifetime: Duration,
    ) -> Result<Verified, AuthError> {
        let m = &self.config.mapping;
        // A time claim that is present must be a whole number of seconds:
        // one we cannot read is refused, never ignored.
        let time = |name: &str| -> Result<Option<u64>, AuthError> {
            match claims.get(name) {
                None => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                    AuthError::Malformed(format!("its `{name}` is not a whole number of seconds"))
                }),
            }
        };
        let sub = claims
            .get(&m.principal_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                AuthError::Malformed(format!("it has no string claim `{}`", m.principal_claim))
            })?;
        let principal = self.name(sub, "user")?;
        // Group overage (Entra ID): the groups are elsewhere, and the token
        // does not carry them all.
        if claims.contains_key("hasgroups")
            || claims
                .get("_claim_names")
                .is_some_and(|n| n.get(&m.groups_claim).is_some())
        {
            return Err(AuthError::Malformed(format!(
                "its groups are not in the token (group overage); configure the identity \
                 provider to send `{}` in the token",
                m.groups_claim
            )));
        }
        let groups: Vec<String> = match claims.get(&m.groups_claim) {
            None if m.groups_optional => Vec::new(),
            None => {
                return Err(AuthError::Malformed(format!(
                    "it has no `{}` claim; configure the identity provider to send it (an \
                     empty list for no groups), or start lakegate with --jwt-groups-optional",
                    m.groups_claim
                )));
            }
            Some(Value::Array(items)) => items
                .iter()
                .map(|g| {
                    g.as_str()
                        .ok_or_else(|| AuthError::BadGroup {
                            group: clip(&g.to_string()),
                            account: m.account.to_string(),
                        })
                        .and_then(|g| self.name(g, "group"))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(AuthError::Malformed(format!(
                    "its claim `{}` is not a list of group names (it is {})",
                    m.groups_claim,
                    clip(&other.to_string())
                )));
            }
        };
        let mut attrs = BTreeMap::new();
        for (name, claim) in &m.attrs {
            let Some(value) = lookup(claims, claim) else {
                continue;
            };
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => continue,
                other => {
                    return Err(AuthError::Malformed(format!(
                        "its claim `{claim}` (attribute `{name}`) is not a string, number or \
                         boolean (it is {})",
                        clip(&other.to_string())
                    )));
                }
            };
            attrs.insert(name.clone(), text);
        }
        let mapped = Claims {
            sub: principal,
            groups,
            attrs,
            exp: time("exp")?.ok_or_else(|| AuthError::Malformed("it has no `exp`".into()))?,
            iat: time("iat")?,
            nbf: time("nbf")?,
        };
        super::checked(mapped, max_lifetime)
    }

    /// A claim value as a principal of the mapped account: a bare name
    /// becomes `ACCOUNT:KIND/NAME`; a full principal must be of that account.
    fn name(&self, value: &str, kind: &str) -> Result<String, AuthError> {
        let account = &self.config.mapping.account;
        let text = if value.contains(':') {
            value.to_string()
        } else {
            format!("{account}:{kind}/{value}")
        };
        let kind_ok = |p: &Principal| match p.kind() {
            Some(PrincipalKind::User) => kind == "user",
            Some(PrincipalKind::Group) => kind == "group",
            // A claim never chooses a role: roles are assumed, not asserted.
            Some(PrincipalKind::Role) | None => false,
        };
        match Principal::parse(&text) {
            Ok(p) if p.account() == account && kind_ok(&p) => Ok(p.to_string()),
            _ if kind == "group" => Err(AuthError::BadGroup {
                group: clip(value),
                account: account.to_string(),
            }),
            _ => Err(AuthError::BadSubject(clip(value))),
        }
    }
}

/// Runs `f`, which blocks (a fetch), so that the async worker it runs on
/// hands its other tasks to other workers first: verification is called
/// synchronously from request handlers, and a task parked behind a blocked
/// worker (the key set's own server, in a test) would otherwise wait for the
/// fetch's timeout.
fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A key set URL must be `https://`, except on loopback (tests, a local
/// agent): over plain HTTP anyone in the path could add keys.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("the JWKS URL `{}` is not a URL ({e})", clip(url)))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "the JWKS URL `{}` must be https:// (plain http only on loopback), so that nobody \
             in the path can add keys",
            clip(url)
        )),
    }
}

/// `a.b.c` in nested claim objects.
fn lookup<'a>(claims: &'a BTreeMap<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut v = claims.get(parts.next()?)?;
    for part in parts {
        v = v.get(part)?;
    }
    Some(v)
}
