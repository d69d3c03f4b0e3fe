//! Four `deai node` processes on 127.0.0.1 replicating one ledger (commonware simplex +
//! marshal over authenticated TCP): transactions over HTTP, one member killed with SIGKILL and
//! restarted, every member ends with the same blocks and state roots and no committed
//! transaction is lost.
//!
//! Run: `cargo test -p deai-cli --release --test node_processes -- --ignored --nocapture`

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use deai_types::{encode, Amount, Call, ChainId, Keypair, Nonce, SignedTx, Tx};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_deai");

/// GET or POST over a fresh connection; returns the status and the JSON body (Null if none).
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    stream.write_all(&bytes).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    let status: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn get(addr: SocketAddr, path: &str) -> Option<Value> {
    match http(addr, "GET", path, None) {
        Some((200, v)) => Some(v),
        _ => None,
    }
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn free_ports() -> (u16, u16) {
    let mut base = 20_000 + (std::process::id() % 1_000) as u16 * 20;
    loop {
        let all_free = (0..4).all(|i| {
            TcpListener::bind(("127.0.0.1", base + i)).is_ok()
                && TcpListener::bind(("127.0.0.1", base + 10 + i)).is_ok()
        });
        if all_free {
            return (base, base + 10);
        }
        base = 20_000 + (base - 20_000 + 20) % 20_000;
    }
}

struct Member {
    config: PathBuf,
    log: PathBuf,
    http: SocketAddr,
    child: Option<Child>,
}

impl Member {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(BIN)
            .arg("node")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let http = self.http;
        wait_for("a member's HTTP API", Duration::from_secs(60), || {
            get(http, "/v1/status").is_some()
        });
    }

    fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
    }

    fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read_key(path: &Path) -> Keypair {
    let text = std::fs::read_to_string(path).unwrap();
    let t = text.trim();
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap();
    }
    Keypair::from_seed(seed)
}

fn transfer(chain_id: &ChainId, from: &Keypair, to: &Keypair, nonce: u64) -> SignedTx {
    from.sign_tx(Tx {
        chain_id: chain_id.clone(),
        nonce: Nonce(nonce),
        fee: Amount(1),
        call: Call::Transfer {
            to: to.account(),
            amount: Amount(AMOUNT),
        },
    })
}

const AMOUNT: u128 = 1_000;

fn submit(addr: SocketAddr, tx: &SignedTx) {
    let (status, body) = http(addr, "POST", "/v1/tx", Some(&encode(tx))).unwrap();
    assert_eq!(status, 202, "submit refused: {body}");
}

fn account(addr: SocketAddr, who: &Keypair) -> Option<(u64, u128)> {
    let v = get(addr, &format!("/v1/account/{}", who.account()))?;
    // Amounts travel as decimal strings.
    Some((v["nonce"].as_u64()?, v["balance"].as_str()?.parse().ok()?))
}

#[test]
#[ignore = "slow: spawns 4 node processes (about a minute); run with --ignored"]
fn four_node_processes_survive_kill_9_and_agree_slow() {
    let tmp = tempfile::tempdir().unwrap();
    let net = tmp.path().join("net");
    let (http_port, p2p_port) = free_ports();
    let out = Command::new(BIN)
        .args(["testnet", "--nodes", "4", "--accounts", "4", "--dir"])
        .arg(&net)
        .args(["--http-port", &http_port.to_string()])
        .args(["--p2p-port", &p2p_port.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let genesis: Value =
        serde_json::from_str(&std::fs::read_to_string(net.join("genesis.json")).unwrap()).unwrap();
    let chain_id = ChainId::new(genesis["chain_id"].as_str().unwrap()).unwrap();
    let senders: Vec<Keypair> = ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|n| read_key(&net.join(format!("keys/{n}.key"))))
        .collect();
    // A fresh account: it receives every transfer, so its balance counts committed transfers.
    let sink = Keypair::from_seed([0x5a; 32]);
    let mut members: Vec<Member> = (0..4u16)
        .map(|i| Member {
            config: net.join(format!("node-{i}.toml")),
            log: tmp.path().join(format!("node-{i}.log")),
            http: SocketAddr::from(([127, 0, 0, 1], http_port + i)),
            child: None,
        })
        .collect();
    for m in &mut members {
        m.start();
    }
    let addrs: Vec<SocketAddr> = members.iter().map(|m| m.http).collect();
    let mut nonces = [0u64; 4];
    let mut sent = 0u128;
    let mut send_round = |nonces: &mut [u64; 4], who: &[usize], via: &dyn Fn(usize) -> usize| {
        for &s in who {
            for _ in 0..10 {
                submit(
                    addrs[via(s)],
                    &transfer(&chain_id, &senders[s], &sink, nonces[s]),
                );
                nonces[s] += 1;
                sent += 1;
            }
        }
        sent
    };
    let committed_everywhere = |on: &[usize], nonces: &[u64; 4], sent: u128| {
        on.iter().all(|&m| {
            (0..4).all(|s| account(addrs[m], &senders[s]).is_some_and(|(n, _)| n == nonces[s]))
                && account(addrs[m], &sink).is_some_and(|(_, b)| b == sent * AMOUNT)
        })
    };

    // 1. All online: every sender submits to "its" member.
    let total = send_round(&mut nonces, &[0, 1, 2, 3], &|s| s);
    wait_for(
        "phase 1 commits on all members",
        Duration::from_secs(120),
        || committed_everywhere(&[0, 1, 2, 3], &nonces, total),
    );

    // 2. Member 3 killed with SIGKILL; the other three (a quorum) keep finalizing.
    members[3].kill9();
    let total = send_round(&mut nonces, &[0, 1, 2], &|s| s);
    wait_for(
        "phase 2 commits on members 0-2",
        Duration::from_secs(120),
        || committed_everywhere(&[0, 1, 2], &nonces, total),
    );
    let height_while_down = get(addrs[0], "/v1/status").unwrap()["height"]
        .as_u64()
        .unwrap();

    // 3. Member 3 restarts from its own storage, catches up, and takes transactions again.
    members[3].start();
    let total = send_round(&mut nonces, &[3, 0], &|s| if s == 0 { 1 } else { 3 });
    wait_for(
        "phase 3 commits on all members",
        Duration::from_secs(180),
        || committed_everywhere(&[0, 1, 2, 3], &nonces, total),
    );
    assert_eq!(total, 90);

    // Identical chains: the same header (hence state root) at every height up to a common one.
    let common = addrs
        .iter()
        .map(|&a| get(a, "/v1/status").unwrap()["height"].as_u64().unwrap())
        .min()
        .unwrap();
    assert!(
        common > height_while_down,
        "member 3 caught up past the outage"
    );
    let step = (common / 25).max(1);
    let mut heights: Vec<u64> = (1..=common).step_by(step as usize).collect();
    heights.push(common);
    heights.push(height_while_down);
    for h in heights {
        let headers: Vec<Value> = addrs
            .iter()
            .map(|&a| get(a, &format!("/v1/block/{h}")).unwrap()["header"].clone())
            .collect();
        assert!(headers[0]["state_root"].is_string());
        for other in &headers[1..] {
            assert_eq!(other, &headers[0], "members disagree at height {h}");
        }
    }
    println!(
        "4 processes: {total} transfers committed, member 3 killed at height ~{height_while_down} and caught up; \
         identical headers/state roots up to height {common}"
    );

    // Graceful shutdown: SIGTERM makes every member exit with status 0.
    for (i, m) in members.iter_mut().enumerate() {
        assert!(m.terminate(), "member {i} did not exit cleanly on SIGTERM");
    }
}
