//! The server refuses to start without a usable store; the client says what
//! to do when no server is running.

use crate::harness::*;

#[test]
fn refuses_to_start_when_the_store_is_unreadable() {
    let tmp = tempfile::tempdir().unwrap();

    // lakegate.db is a directory.
    let d1 = tmp.path().join("dir-store");
    std::fs::create_dir_all(d1.join("lakegate.db")).unwrap();
    let err = spawn_serve(&d1, &tmp.path().join("1.log"), &[])
        .map(|_| ())
        .expect_err("server started on a directory store");
    assert!(err.contains("exit Some(1)"), "{err}");
    assert!(err.contains("cannot open the governance store"), "{err}");

    // lakegate.db is garbage.
    let d2 = tmp.path().join("garbage-store");
    std::fs::create_dir_all(&d2).unwrap();
    std::fs::write(d2.join("lakegate.db"), vec![0x42u8; 8192]).unwrap();
    let err = spawn_serve(&d2, &tmp.path().join("2.log"), &[])
        .map(|_| ())
        .expect_err("server started on a garbage store");
    assert!(err.contains("cannot open the governance store"), "{err}");
    assert!(err.contains("error: "), "{err}");

    // The data dir is a file.
    let f = tmp.path().join("file");
    std::fs::write(&f, "x").unwrap();
    let err = spawn_serve(&f, &tmp.path().join("3.log"), &[])
        .map(|_| ())
        .expect_err("server started on a file data dir");
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn client_without_server_says_what_to_do() {
    // A port nothing listens on: bind, take the port, drop the listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    run_cli(Some(&endpoint), Some("t"), &["database", "list"])
        .fails(1, "is `lakegate serve` running");
    run_cli(Some("not a url"), Some("t"), &["database", "list"])
        .fails(2, "is not a valid endpoint");
}

#[test]
fn endpoint_without_scheme_and_sigterm_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let (mut child, _out, addr) =
        spawn_serve(&data_dir, &tmp.path().join("log"), &[]).expect("serve");
    let admin = run_cli(
        None,
        None,
        &[
            "token",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--principal",
            ADMIN,
        ],
    );
    admin.ok();
    // HOST:PORT and grpc://HOST:PORT are accepted as endpoints.
    for e in [addr.clone(), format!("grpc://{addr}")] {
        let out = run_cli(
            None,
            None,
            &[
                "database",
                "list",
                "--endpoint",
                &e,
                "--token",
                admin.stdout.trim(),
            ],
        );
        out.ok();
    }
    // SIGTERM stops the server cleanly.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "exit {st:?}");
            break;
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("server did not stop on SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn restart_keeps_state_and_key() {
    let mut s = Server::start();
    s.admin(&["database", "create", "kept"]).ok();
    let token = s.admin_token.clone();
    let data_dir = s.data_dir.clone();
    let tmp = tempfile::tempdir().unwrap();
    s.kill();
    let (mut child, _out, addr) =
        spawn_serve(&data_dir, &tmp.path().join("log"), &[]).expect("restart");
    let out = run_cli(
        Some(&format!("http://{addr}")),
        Some(&token),
        &["database", "list"],
    );
    let _ = child.kill();
    let _ = child.wait();
    out.ok();
    assert!(out.stdout.contains("kept"), "{out:#?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.join("signing.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn upstream_flags_that_cannot_work_stop_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let refused = |n: &str, args: &[&str]| {
        spawn_serve(&data, &tmp.path().join(format!("{n}.log")), args)
            .map(|_| ())
            .expect_err("server started")
    };
    let err = refused(
        "kind",
        &[
            "--upstream",
            "grpc://127.0.0.1:1",
            "--upstream-kind",
            "trino",
        ],
    );
    assert!(err.contains("is not an upstream kind"), "{err}");
    let err = refused("no-upstream", &["--upstream-kind", "ballista"]);
    assert!(err.contains("--upstream"), "{err}");
    // The password is never a flag; without it in the environment, the
    // user alone is refused rather than signing in without a password.
    let err = refused(
        "password",
        &[
            "--upstream",
            "grpc://127.0.0.1:1",
            "--upstream-kind",
            "ballista",
            "--upstream-user",
            "lakegate",
        ],
    );
    assert!(err.contains("LAKEGATE_UPSTREAM_PASSWORD"), "{err}");
}
