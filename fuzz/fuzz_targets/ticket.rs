//! Sealed tickets: bytes the server did not seal never open, and a body
//! sealed with the right key but holding anything at all opens only for
//! the caller it names, never panicking.
#![no_main]

use base64::Engine as _;
use grpc_proxy::flight_tickets::{Sealer, caller_fingerprint};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use policy_engine::{Caller, Principal};
use sha2::{Digest, Sha256};

const KEY: &[u8] = b"fuzzing signing key, 32 bytes ok";

/// Seals `body` as the server would (the key derivation of `Sealer::new`).
fn seal_raw(body: &[u8]) -> Option<Vec<u8>> {
    let mut h = Sha256::new();
    h.update(b"lakegate ticket sealing key v1\0");
    h.update(KEY);
    let key = h.finalize();
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).ok()?;
    mac.update(body.as_bytes());
    let tag = hex::encode(mac.finalize().into_bytes());
    Some(format!("{body}.{tag}").into_bytes())
}

fuzz_target!(|data: &[u8]| {
    let sealer = Sealer::new(KEY);
    let Ok(alice) = Principal::parse("111111111111:user/alice") else {
        return;
    };
    let caller = Caller::new(alice);
    // Forged: never opens.
    assert!(sealer.open(data, "stmt", &caller).is_err());
    // Sealed with the right key: whatever the body holds, it opens only
    // for the very caller it names.
    if let Some(sealed) = seal_raw(data)
        && let Ok(s) = sealer.open(&sealed, "stmt", &caller)
    {
        assert_eq!(s.principal, caller.principal.to_string());
        assert_eq!(s.caller, caller_fingerprint(&caller));
        assert_eq!(s.kind, "stmt");
    }
});
