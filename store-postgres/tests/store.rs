//! The PostgreSQL store against a real PostgreSQL server (Debian's package,
//! started in a temporary folder): the same model-based property test as the
//! SQLite store, schema versions, the shared key, concurrent writers on two
//! connections ("nodes"), an outage that fails closed and recovers, and TLS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

#[path = "../../policy-engine/tests/support/store_changes.rs"]
mod store_changes;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lakegate_store_postgres::{PgOptions, PgStore};
use policy_engine::model::{AccountId, Caller, Principal};
use policy_engine::{Error, Governance, GrantRequest, MemStore, ResourceSpec, Store};
use proptest::prelude::*;
use store_changes::change;
use test_kit::PgServer;

/// One server for the tests that do not stop it; each test takes its own
/// database.
fn shared_server() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(PgServer::start)
}

/// A new database and its URL; the test server has no TLS, so the URL says
/// `sslmode=disable` (without it, the store insists on TLS).
fn fresh_db(pg: &PgServer, name: &str) -> String {
    pg.create_user_db(name, "pw", name);
    format!(
        "postgres://{name}:pw@127.0.0.1:{}/{name}?sslmode=disable",
        pg.port
    )
}

fn open(url: &str) -> PgStore {
    PgStore::connect(&PgOptions::new(url)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn postgres_store_matches_the_memory_model(
        batches in prop::collection::vec((prop::collection::vec(change(), 0..6), any::<bool>()), 1..12)
    ) {
        static URL: OnceLock<String> = OnceLock::new();
        let url = URL.get_or_init(|| fresh_db(shared_server(), "model"));
        let pg = open(url);
        // The database carries over from earlier cases: start the model
        // from what it holds.
        let model = MemStore::seeded(pg.load().unwrap());
        store_changes::replay(&pg, &model, &batches)?;
        drop(pg);
        // Another connection (another node) reads the same state.
        prop_assert_eq!(open(url).load().unwrap(), model.load().unwrap());
    }
}

#[test]
fn a_store_from_a_newer_lakegate_is_refused() {
    let pg = shared_server();
    let url = fresh_db(pg, "newer");
    drop(open(&url));
    pg.sql("newer", "UPDATE lakegate_schema SET version = version + 1");
    match PgStore::connect(&PgOptions::new(&url)) {
        Err(Error::StoreUnavailable(m)) => {
            assert!(m.contains("newer") && m.contains("upgrade lakegate"), "{m}");
            assert!(!m.contains("pw"), "the password leaked: {m}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn migrations_run_once_when_nodes_start_together() {
    let pg = shared_server();
    let url = fresh_db(pg, "together");
    let nodes: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || open(&url))
        })
        .map(|h| h.join().unwrap())
        .collect();
    for n in &nodes {
        assert_eq!(n.version().unwrap(), 0);
    }
    assert_eq!(
        pg.sql("together", "SELECT version FROM lakegate_schema")
            .trim(),
        lakegate_store_postgres::SCHEMA_VERSION.to_string()
    );
}

#[test]
fn every_node_gets_the_first_writers_key() {
    let pg = shared_server();
    let url = fresh_db(pg, "keys");
    let (a, b) = (open(&url), open(&url));
    let ka = a.shared_key("signing", &[1; 32]).unwrap().unwrap();
    let kb = b.shared_key("signing", &[2; 32]).unwrap().unwrap();
    assert_eq!(ka, vec![1; 32]);
    assert_eq!(kb, ka, "the second node must adopt the stored key");
}

/// libpq's default, `prefer`, would fall back to plaintext if TLS is
/// declined; the store insists on TLS unless the URL disables it.
#[test]
fn without_sslmode_the_store_insists_on_tls() {
    let pg = shared_server();
    let url = fresh_db(pg, "insist");
    for url in [
        url.replace("?sslmode=disable", ""),
        url.replace("disable", "prefer"),
    ] {
        let mut options = PgOptions::new(&url);
        options.timeout = Duration::from_secs(2);
        match PgStore::connect(&options) {
            Err(Error::StoreUnavailable(m)) => {
                assert!(m.contains("TLS") || m.contains("SSL"), "{m}")
            }
            other => panic!("{url}: a server without TLS must be refused, got {other:?}"),
        }
    }
}

#[test]
fn store_urls_print_without_passwords() {
    for url in [
        "postgres://app:hunter2@db:5432/lake",
        "postgres://app@db/lake?password=hunter2",
        "host=db user=app password=hunter2 dbname=lake",
        "postgres://app:hunter2@[not a host",
    ] {
        let shown = lakegate_store_postgres::redact_url(url);
        assert!(!shown.contains("hunter2"), "{url} -> {shown}");
        let debug = format!("{:?}", PgOptions::new(url));
        assert!(!debug.contains("hunter2"), "{url} -> {debug}");
    }
}

#[test]
fn a_bad_url_is_a_clear_error_without_the_password() {
    for (url, want) in [
        ("mysql://x@h/db", "not a PostgreSQL URL"),
        ("postgres://app:hunter2@127.0.0.1:1/db", "127.0.0.1:1"),
    ] {
        let mut options = PgOptions::new(url);
        options.timeout = Duration::from_secs(2);
        match PgStore::connect(&options) {
            Err(Error::StoreUnavailable(m)) => {
                assert!(m.contains(want), "{m}");
                assert!(!m.contains("hunter2"), "the password leaked: {m}");
            }
            other => panic!("{url}: expected an error, got {other:?}"),
        }
    }
}

fn admin() -> Caller {
    Caller::new(Principal::parse("111111111111:user/admin").unwrap())
}

/// Two nodes (two stores, two governance services) grant concurrently;
/// optimistic versioning with retries loses none of the grants.
#[test]
fn concurrent_admin_commands_on_two_nodes_lose_no_update() {
    let pg = shared_server();
    let url = fresh_db(pg, "concurrent");
    let account = AccountId::parse("111111111111").unwrap();
    let nodes: Vec<Arc<Governance>> = (0..2)
        .map(|_| Arc::new(Governance::new(Arc::new(open(&url))).unwrap()))
        .collect();
    nodes[0].bootstrap(&account, &[admin().principal]).unwrap();
    nodes[0].create_database(&admin(), "sales", None).unwrap();
    let per_thread = 10;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let node = nodes[t % 2].clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    node.grant(
                        &admin(),
                        &GrantRequest {
                            principal: format!("111111111111:user/u{t}x{i}"),
                            permissions: vec!["DESCRIBE".into()],
                            grantable: vec![],
                            resource: ResourceSpec::Database {
                                name: "sales".into(),
                            },
                            masks: vec![],
                        },
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for node in &nodes {
        let snap = node.snapshot().unwrap();
        let granted = snap
            .catalog
            .grants
            .values()
            .filter(|g| g.principal.to_string().contains(":user/u"))
            .count();
        assert_eq!(granted, 4 * per_thread, "a grant was lost");
    }
}

/// Every call while PostgreSQL is down is StoreUnavailable (so every
/// request is denied); calls succeed again once it is back.
#[test]
fn an_outage_fails_closed_and_recovers() {
    let pg = PgServer::start();
    let url = fresh_db(&pg, "outage");
    let mut options = PgOptions::new(&url);
    options.timeout = Duration::from_secs(2);
    let store = PgStore::connect(&options).unwrap();
    let v = store.version().unwrap();
    pg.stop();
    assert!(matches!(store.version(), Err(Error::StoreUnavailable(_))));
    assert!(matches!(store.load(), Err(Error::StoreUnavailable(_))));
    assert!(matches!(
        store.commit(v, &[]),
        Err(Error::StoreUnavailable(_))
    ));
    pg.start_again();
    assert_eq!(store.version().unwrap(), v);
    assert_eq!(store.commit(v, &[]).unwrap(), v + 1);
}

#[test]
fn tls_to_the_store_is_verified() {
    let pg = PgServer::start();
    let ca = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = params.self_signed(&ca).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &rcgen::Issuer::new(params, ca))
        .unwrap();
    pg.enable_tls(&leaf.pem(), &key.serialize_pem());
    let url = fresh_db(&pg, "tls").replace("sslmode=disable", "sslmode=require");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();

    let mut trusted = PgOptions::new(&url);
    trusted.ca_file = Some(ca_file);
    let store = PgStore::connect(&trusted).unwrap();
    assert_eq!(store.version().unwrap(), 0);
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE datname = 'tls'"
        )
        .trim(),
        "t",
        "the store's connections must use TLS"
    );

    // A certificate the system's roots do not trust is refused.
    let mut untrusted = PgOptions::new(&url);
    untrusted.timeout = Duration::from_secs(3);
    match PgStore::connect(&untrusted) {
        Err(Error::StoreUnavailable(m)) => assert!(m.contains("certificate"), "{m}"),
        other => panic!("an untrusted certificate must be refused, got {other:?}"),
    }
}
