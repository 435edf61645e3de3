//! Development tokens: any string either fails verification or names a
//! valid caller; claims signed with the right key but holding anything at
//! all either are refused or give a caller whose groups belong to its
//! account, never panicking.
#![no_main]

use std::time::Duration;

use grpc_proxy::auth::verify_token;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzzing signing key, 32 bytes ok";
const DAY: Duration = Duration::from_secs(24 * 3600);

fn check(token: &str) {
    if let Ok(v) = verify_token(KEY, token, DAY) {
        let account = v.caller.principal.account();
        assert!(!v.caller.principal.is_group(), "{token}");
        for g in &v.caller.groups {
            assert!(g.is_group() && g.account() == account, "{token}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    // The same bytes as the claims of a correctly signed token.
    let claims: serde_json::Value = serde_json::from_slice(data)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(data).into()));
    if let Ok(token) = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(KEY),
    ) {
        check(&token);
    }
});
