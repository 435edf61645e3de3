//! Production identity (issue 13 §3) through a real Flight SQL client: RS256
//! and ES256 tokens from an identity provider whose key set (JWKS) the test
//! serves on loopback, with keys the test generates (ES256 with rcgen, RSA
//! with the `openssl` command):
//! - claims map to the principal, groups and attributes, and the row filter
//!   sees the attribute;
//! - every way a token can be wrong is UNAUTHENTICATED;
//! - a key rotation needs no restart, and unknown `kid`s do not make the
//!   server hammer the provider;
//! - while the provider is down, cached keys still verify and an unknown
//!   `kid` is refused.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use grpc_proxy::auth::jwks::{ClaimMapping, JwksConfig, JwksSource};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use policy_engine::ResourceSpec;
use policy_engine::filters::NewDataFilter;
use policy_engine::model::AccountId;
use serde_json::{Value, json};
use test_kit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;
use tonic::Code;

const ISSUER: &str = "https://idp.example.test";
const AUDIENCE: &str = "lakegate";

/// A signing key and its public JWK.
struct Key {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

fn es256(kid: &str) -> Key {
    let pair = rcgen::KeyPair::generate().unwrap();
    let raw = pair.public_key_raw();
    assert_eq!(raw.len(), 65, "an uncompressed P-256 point");
    Key {
        kid: kid.into(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": B64.encode(&raw[1..33]), "y": B64.encode(&raw[33..65]),
        }),
    }
}

fn rs256(kid: &str) -> Key {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("rsa.pem");
    let out = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&pem)
        .arg("2048")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.trim().strip_prefix("Modulus=").unwrap();
    let n: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect();
    Key {
        kid: kid.into(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_pem(&std::fs::read(&pem).unwrap()).unwrap(),
        jwk: json!({
            "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": B64.encode(n), "e": "AQAB",
        }),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims of a good token for `sub`.
fn claims(sub: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": [AUDIENCE, "other"], "sub": sub,
        "iat": now(), "exp": now() + 600,
        "groups": ["analysts"],
        "custom": {"region": "EU"},
    })
}

fn sign(key: &Key, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// A JWKS endpoint on loopback: serves `keys` as they are at each request
/// and counts the requests; stops when `stop` is set.
struct Idp {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

async fn idp(keys: Vec<Value>) -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let keys = Arc::new(Mutex::new(keys));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            f.fetch_add(1, Ordering::SeqCst);
            let body = json!({ "keys": *k.lock().await }).to_string();
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    Idp {
        url,
        keys,
        fetches,
        task,
    }
}

fn config(url: &str) -> JwksConfig {
    JwksConfig {
        source: JwksSource::Url(url.into()),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        mapping: ClaimMapping {
            account: AccountId::parse("111111111111").unwrap(),
            principal_claim: "sub".into(),
            groups_claim: "groups".into(),
            groups_optional: false,
            attrs: vec![("region".into(), "custom.region".into())],
        },
        min_refresh: Duration::from_millis(300),
    }
}

/// The group `analysts` may read orders of its members' region.
async fn server(url: &str) -> TestServer {
    let h = Builder::new().jwks(config(url)).start_with_sales().await;
    h.gov
        .create_data_filter(
            &admin(),
            &NewDataFilter {
                name: "sales.orders.mine".into(),
                row_filter: Some("region = ${principal.attrs.region}".into()),
                all_rows: false,
                columns: vec![],
                exclude_columns: vec![],
            },
        )
        .unwrap();
    h.grant(
        "111111111111:group/analysts",
        ResourceSpec::DataFilter {
            name: "sales.orders.mine".into(),
        },
        &[],
    );
    h
}

const SQL: &str = "SELECT DISTINCT region FROM sales.orders";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_provider_tokens_map_to_principal_groups_and_attributes() {
    let (ec, rsa) = (es256("ec-1"), rs256("rsa-1"));
    let idp = idp(vec![ec.jwk.clone(), rsa.jwk.clone()]).await;
    let h = server(&idp.url).await;
    for key in [&ec, &rsa] {
        // A bare name and a full principal of the account both map.
        for sub in ["alice", "111111111111:user/alice"] {
            let token = sign(key, &claims(sub));
            let got = h.query(&token, SQL).await.unwrap();
            assert_eq!(rows(&got), vec![r(&["EU"])], "{:?} {sub}", key.alg);
        }
    }
    // Development tokens still work beside the provider's.
    let dev = h.token(
        "111111111111:user/bob",
        &["111111111111:group/analysts"],
        &[("region", "US")],
    );
    assert_eq!(rows(&h.query(&dev, SQL).await.unwrap()), vec![r(&["US"])]);
    idp.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_identity_provider_token_is_unauthenticated() {
    let (ec, rsa) = (es256("ec-1"), rs256("rsa-1"));
    let idp = idp(vec![ec.jwk.clone(), rsa.jwk.clone()]).await;
    let h = server(&idp.url).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims("alice");
        change(&mut c);
        c
    };
    let stranger = es256("ec-1"); // the same kid, another key
    let mut rsa_as_ec = Header::new(Algorithm::ES256);
    rsa_as_ec.kid = Some("rsa-1".into());
    let mut no_kid = Header::new(Algorithm::ES256);
    no_kid.kid = None;
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong issuer",
            sign(&ec, &with(&|c| c["iss"] = json!("https://evil.test"))),
        ),
        (
            "wrong audience",
            sign(&ec, &with(&|c| c["aud"] = json!("someone-else"))),
        ),
        (
            "no audience",
            sign(
                &ec,
                &with(&|c| drop(c.as_object_mut().unwrap().remove("aud"))),
            ),
        ),
        (
            "expired",
            sign(&ec, &with(&|c| c["exp"] = json!(now() - 10))),
        ),
        (
            "too long-lived",
            sign(&ec, &with(&|c| c["exp"] = json!(now() + 400 * 24 * 3600))),
        ),
        (
            "another account",
            sign(&ec, &with(&|c| c["sub"] = json!("222222222222:user/alice"))),
        ),
        (
            "a group as subject",
            sign(
                &ec,
                &with(&|c| c["sub"] = json!("111111111111:group/analysts")),
            ),
        ),
        (
            "a group of another account",
            sign(
                &ec,
                &with(&|c| c["groups"] = json!(["222222222222:group/x"])),
            ),
        ),
        (
            "a group that is not a string",
            sign(&ec, &with(&|c| c["groups"] = json!([7]))),
        ),
        (
            "groups that are not a list",
            sign(&ec, &with(&|c| c["groups"] = json!("analysts"))),
        ),
        (
            "an attribute that is an object",
            sign(&ec, &with(&|c| c["custom"]["region"] = json!({"a": 1}))),
        ),
        ("a forged signature", sign(&stranger, &claims("alice"))),
        ("unknown kid", sign(&es256("nobody"), &claims("alice"))),
        (
            "algorithm of another key",
            jsonwebtoken::encode(&rsa_as_ec, &claims("alice"), &ec.encoding).unwrap(),
        ),
        (
            "no kid",
            jsonwebtoken::encode(&no_kid, &claims("alice"), &ec.encoding).unwrap(),
        ),
        (
            "a role as subject",
            sign(&ec, &with(&|c| c["sub"] = json!("111111111111:role/admin"))),
        ),
        (
            "no groups claim",
            sign(
                &ec,
                &with(&|c| drop(c.as_object_mut().unwrap().remove("groups"))),
            ),
        ),
        (
            "group overage",
            sign(
                &ec,
                &with(&|c| c["_claim_names"] = json!({"groups": "src1"})),
            ),
        ),
        (
            "hasgroups",
            sign(&ec, &with(&|c| c["hasgroups"] = json!(true))),
        ),
        (
            "nbf not a number",
            sign(&ec, &with(&|c| c["nbf"] = json!("soon"))),
        ),
        (
            "nbf in the future",
            sign(&ec, &with(&|c| c["nbf"] = json!(now() + 300))),
        ),
        (
            "exp as a float",
            sign(&ec, &with(&|c| c["exp"] = json!(now() as f64 + 600.5))),
        ),
    ];
    for (what, token) in cases {
        let e = h.query(&token, SQL).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{what}: {e:?}");
        // Each refusal says what was wrong with the token.
        let why = match what {
            "wrong issuer" => "issuer",
            "wrong audience" | "no audience" => "aud",
            "expired" => "expired",
            "too long-lived" => "valid for",
            "another account" | "a group as subject" | "a role as subject" => "subject",
            "a group of another account" | "a group that is not a string" => "not a group",
            "groups that are not a list" => "list of group names",
            "an attribute that is an object" => "attribute `region`",
            "a forged signature" => "signature",
            "unknown kid" => "not in the identity provider's key set",
            "algorithm of another key" => "does not match key",
            "no kid" => "no `kid`",
            "no groups claim" => "no `groups` claim",
            "group overage" | "hasgroups" => "group overage",
            "nbf not a number" => "nbf",
            "exp as a float" => "exp",
            "nbf in the future" => "not valid yet",
            other => panic!("no expectation for {other}"),
        };
        assert!(e.message().contains(why), "{what}: {}", e.message());
    }
    idp.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_needs_no_restart_and_a_dead_provider_keeps_cached_keys() {
    let (old, new) = (es256("2026-11"), rs256("2026-12"));
    let idp = idp(vec![old.jwk.clone()]).await;
    let h = server(&idp.url).await;
    let good = |k: &Key| sign(k, &claims("alice"));
    assert!(h.query(&good(&old), SQL).await.is_ok());
    let fetched = idp.fetches.load(Ordering::SeqCst);
    // Cached: more tokens with a known kid fetch nothing.
    for _ in 0..3 {
        assert!(h.query(&good(&old), SQL).await.is_ok());
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), fetched);

    // The provider rotates: a token with the new kid verifies at once.
    idp.keys.lock().await.push(new.jwk.clone());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(h.query(&good(&new), SQL).await.is_ok());
    assert_eq!(idp.fetches.load(Ordering::SeqCst), fetched + 1);

    // A burst of unknown kids fetches at most once per refresh interval.
    let before = idp.fetches.load(Ordering::SeqCst);
    for i in 0..5 {
        let e = h
            .query(&sign(&es256(&format!("junk-{i}")), &claims("alice")), SQL)
            .await;
        assert_eq!(e.unwrap_err().code(), Code::Unauthenticated);
    }
    assert!(idp.fetches.load(Ordering::SeqCst) <= before + 1);

    // The provider goes away. Once a fetch has failed, cached keys still
    // verify and unknown kids are refused.
    idp.task.abort();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let e = h
        .query(&sign(&es256("2027-01"), &claims("alice")), SQL)
        .await;
    assert_eq!(e.unwrap_err().code(), Code::Unauthenticated);
    assert!(h.query(&good(&old), SQL).await.is_ok());
    assert!(h.query(&good(&new), SQL).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_for_other_uses_are_not_used_and_dev_tokens_can_be_turned_off() {
    let ec = es256("ec-1");
    let mut enc = es256("enc-1");
    enc.jwk["use"] = json!("enc");
    let mut rs512 = rs256("rsa-512");
    rs512.jwk["alg"] = json!("RS512");
    let idp = idp(vec![ec.jwk.clone(), enc.jwk.clone(), rs512.jwk.clone()]).await;
    let h = Builder::new()
        .jwks(config(&idp.url))
        .no_dev_tokens()
        .start_with_sales()
        .await;
    h.grant("111111111111:user/alice", table("sales.orders", &[]), &[]);
    assert!(h.query(&sign(&ec, &claims("alice")), SQL).await.is_ok());
    for key in [&enc, &rs512] {
        let e = h
            .query(&sign(key, &claims("alice")), SQL)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{}", key.kid);
    }
    let dev = h.token("111111111111:user/alice", &[], &[]);
    let e = h.query(&dev, SQL).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("--no-dev-tokens"), "{}", e.message());
    idp.task.abort();
}

#[test]
fn a_jwks_url_must_be_https_unless_on_loopback() {
    for (url, ok) in [
        ("http://idp.example.com/jwks.json", false),
        ("ftp://127.0.0.1/jwks.json", false),
        ("not a url", false),
        ("https://idp.example.com/jwks.json", true),
        ("http://127.0.0.1:1/jwks.json", true),
        ("http://[::1]:1/jwks.json", true),
    ] {
        let got = grpc_proxy::auth::jwks::Jwks::new(config(url));
        assert_eq!(got.is_ok(), ok, "{url}: {:?}", got.err());
    }
}

#[test]
fn a_jwks_file_that_cannot_be_used_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    for (body, want) in [
        ("{\"not\": \"a key set\"}", "no `keys` array"),
        ("not json", "not JSON"),
    ] {
        std::fs::write(&file, body).unwrap();
        let mut c = config("unused");
        c.source = JwksSource::File(file.clone());
        let e = grpc_proxy::auth::jwks::Jwks::new(c).unwrap_err();
        assert!(e.contains("jwks.json") && e.contains(want), "{e}");
    }
    let mut c = config("unused");
    c.source = JwksSource::File(dir.path().join("missing.json"));
    assert!(
        grpc_proxy::auth::jwks::Jwks::new(c)
            .unwrap_err()
            .contains("missing.json")
    );
}
