//! The embedded default, end to end: `fundtrail serve` with no DATABASE_URL creates a
//! private cluster, becomes ready, stops the cluster on SIGTERM, and reuses it on restart.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

fn start(data_dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fundtrail"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("FUNDTRAIL_SIGNING_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_ready(port: u16, child: &mut Child) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("serve exited early: {status}");
        }
        if get(port, "/readyz") == Some(200) {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("not ready within 60 s");
}

fn stop(child: &mut Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[test]
fn serve_without_database_url_runs_a_private_cluster_and_reuses_it() {
    // Short path: Unix socket paths are limited to ~107 bytes.
    let data_dir = std::path::PathBuf::from(format!("/tmp/ft-emb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let port = free_port();

    let mut first = start(&data_dir, port);
    let took = wait_ready(port, &mut first);
    eprintln!("first start (initdb included) ready after {took:?}");
    assert!(data_dir.join("pg/PG_VERSION").exists());
    assert!(
        data_dir.join("keys/checkpoint.key").exists(),
        "the embedded default makes a signing key"
    );
    // Another command on the same data directory uses the running cluster and leaves it up.
    let created = Command::new(env!("CARGO_BIN_EXE_fundtrail"))
        .args([
            "user",
            "create",
            "--email",
            "admin@example.org",
            "--role",
            "admin",
            "--org",
            "Ops",
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .env_remove("DATABASE_URL")
        .env("FUNDTRAIL_USER_PASSWORD", "embedded admin password")
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert_eq!(
        get(port, "/readyz"),
        Some(200),
        "the serving cluster is still up"
    );
    stop(&mut first);
    assert!(
        !data_dir.join("pg/postmaster.pid").exists(),
        "the cluster stops with the service"
    );

    let mut second = start(&data_dir, port);
    let took = wait_ready(port, &mut second);
    eprintln!("restart ready after {took:?}");
    assert_eq!(get(port, "/healthz"), Some(200));
    stop(&mut second);
    let _ = std::fs::remove_dir_all(&data_dir);
}
